package proxy

import (
	"net/http"
	"strings"
	"time"
)

// handleReverse serves origin-form /<service>/<rest> requests on the
// credential routes: route by the first segment, refuse TRACE/TRACK,
// canonicalise <rest> and join it under the upstream base path, then the
// shared pipeline (phantom, endpoint rules, policy, inject, stream).
func (s *Server) handleReverse(w http.ResponseWriter, r *http.Request) {
	if c := s.reverseCall(w, r); c != nil {
		s.serveL7(w, r, c)
	}
}

// reverseCall routes and canonicalises a reverse-path request. It returns
// nil after answering w with the refusal and recording the event.
func (s *Server) reverseCall(w http.ResponseWriter, r *http.Request) *l7Call {
	ev := &Event{Time: time.Now(), Mode: ModeReverse, Decision: DecisionDeny, Method: echoSafe(r.Method)}
	raw := requestPath(r.RequestURI)
	name, _, hasRest := strings.Cut(raw[1:], "/")
	rest := "/"
	if hasRest {
		rest = raw[1+len(name):] // "/<rest>", without copying
	}
	rt := s.l7.routes[name]
	if rt == nil {
		ev.Path = s.auditPath(echoSafe(raw))
		ev.Status, ev.Reason = http.StatusNotFound, ReasonNoRoute
		s.reply(w, http.StatusNotFound, ReasonNoRoute, "no credential route serves this path; the first path segment must name a configured credential service")
		s.record(*ev)
		return nil
	}
	ev.Service, ev.Host, ev.Port = rt.name, rt.host, rt.port
	ev.Path = s.auditPath(echoSafe(rest))
	if refusedMethod(r.Method) {
		s.l7Deny(w, ev, http.StatusMethodNotAllowed, ReasonMethod, "nono: method "+ev.Method+" is not allowed through the credential gateway")
		return nil
	}
	hostRules := s.l7.hostRules[rt.host]
	p, err := normalizeFor(rest, rt.rules.Len() > 0 || hostRules.Len() > 0)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+s.auditPath(err.Error()))
		return nil
	}
	// endpoints.BaseJoin(rt.base, p) without normalising both again: rt.base
	// is canonical without a trailing '/' (newCredRoute) and p is canonical
	// and starts with '/', so the join is canonical and lies under the base.
	full := rt.base + p
	return &l7Call{
		ev: ev, route: rt, scheme: rt.scheme, host: rt.host, port: rt.port,
		full: full, rel: p, hostRules: hostRules, transport: rt.transport,
	}
}

// echoSafe is sanitizeForEcho with a fast path for the common case, short
// printable ASCII, which sanitizeForEcho returns unchanged.
func echoSafe(s string) string {
	if len(s) > 256 {
		return sanitizeForEcho(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return sanitizeForEcho(s)
		}
	}
	return s
}
