package proxy

import "time"

// Audit modes.
const (
	ModeConnect   = "connect"
	ModeForward   = "forward"
	ModeReverse   = "reverse"
	ModeIntercept = "intercept"
)

// Audit decisions.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// Event is one audit record. It never carries a token, a password, a
// secret or a Proxy-Authorization value (a phantom token in a url_path
// route's path is replaced by "[phantom]"); Upstream is "host:port" of the
// chained proxy.
type Event struct {
	Time      time.Time
	Mode      string // connect | forward | reverse | intercept
	Decision  string // allow | deny
	Host      string // normalised host, or sanitised raw host when invalid
	Port      uint16
	Method    string
	Path      string // forward, reverse and intercept modes, without the query string
	Service   string // credential route name (reverse, intercept, forward to a credential host)
	Status    int
	Reason    string // one of the Reason* codes
	BytesUp   int64  // client to origin
	BytesDown int64  // origin to client
	Duration  time.Duration
	Upstream  string
}

// Sink receives audit events. Record must be safe for concurrent use and
// should not block for long: it runs on the connection's goroutine.
type Sink interface {
	Record(Event)
}

type discardSink struct{}

func (discardSink) Record(Event) {}
