package proxy

import (
	"net/http"
	"strings"
	"time"

	"github.com/nono-sandbox/nono/endpoints"
)

// handleReverse serves origin-form /<service>/<rest> requests on the
// credential routes: route by the first segment, refuse TRACE/TRACK,
// canonicalise <rest> and join it under the upstream base path, then the
// shared pipeline (phantom, endpoint rules, policy, inject, stream).
func (s *Server) handleReverse(w http.ResponseWriter, r *http.Request) {
	ev := &Event{Time: time.Now(), Mode: ModeReverse, Decision: DecisionDeny, Method: sanitizeForEcho(r.Method)}
	raw := requestPath(r.RequestURI)
	name, rest, _ := strings.Cut(raw[1:], "/")
	rest = "/" + rest
	rt := s.l7.routes[name]
	if rt == nil {
		ev.Path = s.auditPath(sanitizeForEcho(raw))
		ev.Status, ev.Reason = http.StatusNotFound, ReasonNoRoute
		s.reply(w, http.StatusNotFound, ReasonNoRoute, "no credential route serves this path; the first path segment must name a configured credential service")
		s.record(*ev)
		return
	}
	ev.Service, ev.Host, ev.Port = rt.name, rt.host, rt.port
	ev.Path = s.auditPath(sanitizeForEcho(rest))
	if refusedMethod(r.Method) {
		s.l7Deny(w, ev, http.StatusMethodNotAllowed, ReasonMethod, "nono: method "+ev.Method+" is not allowed through the credential gateway")
		return
	}
	hostRules := s.l7.hostRules[rt.host]
	p, err := normalizeFor(rest, rt.rules.Len() > 0 || hostRules.Len() > 0)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+s.auditPath(err.Error()))
		return
	}
	full, err := endpoints.BaseJoin(rt.base, p)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+s.auditPath(err.Error()))
		return
	}
	s.serveL7(w, r, &l7Call{
		ev: ev, route: rt, scheme: rt.scheme, host: rt.host, port: rt.port,
		full: full, rel: p, hostRules: hostRules, transport: rt.transport,
	})
}
