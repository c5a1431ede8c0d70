package proxy

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/nono-sandbox/nono/endpoints"
)

// forwardL7 handles an absolute-form http:// request to a credential or
// rules host (proxy auth already passed). It reports whether the request
// was answered; false means a rules-only host whose rules allowed it, and
// r.URL now carries the canonical path for the plain forwarder.
//
//   - credential host: only a loopback http upstream on the same port is
//     served here (phantom, rules, injection, as on the other paths);
//     anything else is 403, since the secret must not travel in clear.
//   - rules-only host: the rules decide on the whole canonical path.
func (s *Server) forwardL7(w http.ResponseWriter, r *http.Request, fev *Event, host string, port uint16) bool {
	ev := &Event{Time: fev.Time, Mode: ModeForward, Decision: DecisionDeny, Method: sanitizeForEcho(r.Method), Host: host, Port: port}
	if all := s.l7.byHost[host]; len(all) > 0 {
		var routes []*credRoute
		for _, c := range all {
			if c.scheme == "http" && c.port == port {
				routes = append(routes, c)
			}
		}
		if len(routes) == 0 {
			ev.Service = all[0].name
			ev.Path = s.auditPath(sanitizeForEcho(requestPath(r.RequestURI)))
			s.l7Deny(w, ev, http.StatusForbidden, ReasonPlainHTTP, fmt.Sprintf(
				"nono: %s carries a credential; plain http:// to it is refused. Use the service's base URL or https through the proxy", host))
			return true
		}
		s.serveHostPath(w, r, ev, "http", host, port, routes)
		return true
	}
	rules := s.l7.hostRules[host]
	raw := requestPath(r.RequestURI)
	ev.Path = sanitizeForEcho(raw)
	if refusedMethod(r.Method) {
		s.l7Deny(w, ev, http.StatusMethodNotAllowed, ReasonMethod, "nono: method "+ev.Method+" is not allowed to a host with endpoint rules")
		return true
	}
	p, err := endpoints.NormalizePath(raw)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+err.Error())
		return true
	}
	ev.Path = p
	allowed, _, err := rules.Allow(r.Method, p)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: "+err.Error())
		return true
	}
	if !allowed {
		s.l7Deny(w, ev, http.StatusForbidden, ReasonEndpoint, fmt.Sprintf("nono: endpoint denied: %s %s", ev.Method, p))
		return true
	}
	unescaped, err := url.PathUnescape(p)
	if err != nil {
		s.l7Deny(w, ev, http.StatusBadRequest, ReasonBadPath, "nono: malformed path")
		return true
	}
	u := *r.URL
	u.Path, u.RawPath = unescaped, p
	r.URL = &u
	fev.Path = p
	return false
}
