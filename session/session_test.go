package session

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nono-sandbox/nono/proxy"
	"github.com/nono-sandbox/nono/sandbox"
	"github.com/nono-sandbox/nono/ui"
)

func planFor(net sandbox.NetMode, out *bytes.Buffer) *Plan {
	return &Plan{spec: sandbox.Spec{Net: net}, opts: Options{Printer: &ui.Printer{W: out}}}
}

// The kernel of this machine has everything, so the refusals are checked
// against reports of older kernels: the same decision code, other inputs.
func TestCheckKernelRefusesWhatItCannotEnforce(t *testing.T) {
	full := sandbox.Report{LandlockABI: 7, Seccomp: true, SeccompNotif: true, PidfdGetfd: true}
	var out bytes.Buffer
	if err := planFor(sandbox.NetBlock, &out).checkKernelWith(full); err != nil || out.Len() != 0 {
		t.Fatalf("full kernel: %v %q", err, out.String())
	}
	noLL := full
	noLL.LandlockABI = 0
	if err := planFor(sandbox.NetAllow, &out).checkKernelWith(noLL); !errors.Is(err, sandbox.ErrNoLandlock) {
		t.Fatalf("no Landlock must refuse to run: %v", err)
	}
	noNotif := full
	noNotif.SeccompNotif = false
	for _, mode := range []sandbox.NetMode{sandbox.NetBlock, sandbox.NetProxy} {
		if err := planFor(mode, &out).checkKernelWith(noNotif); err == nil || !strings.Contains(err.Error(), "refusing to run") {
			t.Fatalf("%v without seccomp notify must refuse: %v", mode, err)
		}
	}
	if err := planFor(sandbox.NetAllow, &out).checkKernelWith(noNotif); err != nil {
		t.Fatalf("an open network needs no notify: %v", err)
	}
	old := full
	old.LandlockABI = 5
	out.Reset()
	if err := planFor(sandbox.NetAllow, &out).checkKernelWith(old); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cannot isolate abstract unix sockets", "cannot stop signals"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ABI 5 must say %q out loud; got %q", want, out.String())
		}
	}
}

func TestMemorySinkIsBounded(t *testing.T) {
	m := &memorySink{max: 4096}
	for i := 0; i < 5000; i++ {
		m.Record(proxy.Event{Decision: proxy.DecisionDeny, Host: fmt.Sprint(i)})
	}
	if len(m.events) != 4096 || m.dropped != 904 || len(m.denials()) != 4096 {
		t.Fatalf("kept %d, dropped %d", len(m.events), m.dropped)
	}
}
