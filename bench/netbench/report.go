package main

import (
	"fmt"
	"slices"
	"strings"
)

func med(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func median(runs []Run, name string) *Median {
	var gb, tls, kp50, kp99, np50, np99, dp50, dp99, gbr, tlsr []float64
	direct := map[int]*ClientResult{}
	for _, r := range runs {
		if r.Setup == "direct" && r.Result != nil {
			direct[r.Round] = r.Result
		}
	}
	m := &Median{}
	for _, r := range runs {
		if r.Setup != name {
			continue
		}
		if r.Error != "" {
			m.Notes = append(m.Notes, fmt.Sprintf("round %d: %s", r.Round, r.Error))
		}
		if r.Result == nil {
			continue
		}
		m.Rounds++
		for _, e := range r.Result.Errors {
			if !strings.Contains(e, "phase time bound reached") { // reported below with its count
				m.Notes = append(m.Notes, fmt.Sprintf("round %d: %s", r.Round, e))
			}
		}
		d := direct[r.Round]
		if x := r.Result.Bulk; x != nil {
			gb = append(gb, x.GBps)
			if d != nil && d.Bulk != nil && d.Bulk.GBps > 0 {
				gbr = append(gbr, x.GBps/d.Bulk.GBps)
			}
		}
		if x := r.Result.BulkTLS; x != nil {
			tls = append(tls, x.GBps)
			if d != nil && d.BulkTLS != nil && d.BulkTLS.GBps > 0 {
				tlsr = append(tlsr, x.GBps/d.BulkTLS.GBps)
			}
		}
		if x := r.Result.KeepAlive; x != nil {
			kp50, kp99 = append(kp50, x.P50us), append(kp99, x.P99us)
		}
		if x := r.Result.Dial; x != nil {
			dp50, dp99 = append(dp50, x.P50us), append(dp99, x.P99us)
		}
		if x := r.Result.NewConn; x != nil {
			np50, np99 = append(np50, x.P50us), append(np99, x.P99us)
			if x.Truncated {
				m.Notes = append(m.Notes, fmt.Sprintf("round %d: new-conn stopped at its time bound after %d requests", r.Round, x.Requests))
			}
		}
	}
	m.GBps, m.KAp50, m.KAp99, m.NCp50, m.NCp99 = med(gb), med(kp50), med(kp99), med(np50), med(np99)
	m.DialP50, m.DialP99 = med(dp50), med(dp99)
	m.TLSGBps, m.GBpsRatio, m.TLSRatio = med(tls), med(gbr), med(tlsr)
	return m
}

// report renders the medians as markdown with ratios against direct and
// the goals checked.
func report(s *Summary) string {
	var b strings.Builder
	d := s.Medians["direct"]
	ratio := func(x, base float64) string {
		if x == 0 || base == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f×", x/base)
	}
	num := func(x float64, f string) string {
		if x == 0 {
			return "-"
		}
		return fmt.Sprintf(f, x)
	}
	fmt.Fprintf(&b, "\nnetbench %s: %v B bulk, %v requests per latency phase, median of %v rounds; nproc %s, kernel %s\n\n",
		s.Date, s.Params["bytes"], s.Params["requests"], s.Params["rounds"], s.Host["nproc"], s.Host["kernel"])
	b.WriteString("| setup | TCP bulk GB/s | × direct | HTTPS bulk GB/s | × direct | keep-alive p50 µs | p99 µs | p50 × direct | new-conn p50 µs | p99 µs | p50 × direct |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, name := range s.Order {
		m := s.Medians[name]
		var base Median
		if d != nil {
			base = *d
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name,
			num(m.GBps, "%.2f"), num(m.GBpsRatio, "%.2f×"), num(m.TLSGBps, "%.2f"), num(m.TLSRatio, "%.2f×"),
			num(m.KAp50, "%.0f"), num(m.KAp99, "%.0f"), ratio(m.KAp50, base.KAp50),
			num(m.NCp50, "%.0f"), num(m.NCp99, "%.0f"), ratio(m.NCp50, base.NCp50))
	}
	if d != nil && d.DialP50 > 0 {
		b.WriteString("\nconnect(2)+close to the first hop (the proxy; the origin when direct):\n\n")
		b.WriteString("| setup | p50 µs | p99 µs | p50 × direct |\n|---|---|---|---|\n")
		for _, name := range s.Order {
			m := s.Medians[name]
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, num(m.DialP50, "%.0f"), num(m.DialP99, "%.0f"), ratio(m.DialP50, d.DialP50))
		}
	}
	b.WriteString("\nBulk ratios are the median of same-round ratios (setup ÷ direct in that round).\n\n")
	for _, name := range s.Order {
		fmt.Fprintf(&b, "- %s: %s\n", name, s.Describe[name])
	}
	if len(s.Order) > 0 {
		b.WriteString("\nPer round (TCP bulk GB/s · HTTPS bulk GB/s · keep-alive p50/p99 µs · new-conn p50/p99 µs):\n\n")
		for _, r := range s.Runs {
			fmt.Fprintf(&b, "- round %d %s: %s\n", r.Round, r.Setup, roundLine(r))
		}
	}
	b.WriteString("\nGoals:\n\n")
	goals(&b, s)
	var notes []string
	for _, name := range s.Order {
		for _, n := range s.Medians[name].Notes {
			notes = append(notes, fmt.Sprintf("- %s: %s", name, oneLineStr(n)))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nErrors and truncations:\n\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

func roundLine(r Run) string {
	if r.Result == nil {
		return "failed: " + oneLineStr(r.Error)
	}
	f := func(x float64) string {
		if x == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", x)
	}
	var gb, tb, ka, nc string = "-", "-", "-/-", "-/-"
	if x := r.Result.Bulk; x != nil {
		gb = fmt.Sprintf("%.2f", x.GBps)
	}
	if x := r.Result.BulkTLS; x != nil {
		tb = fmt.Sprintf("%.2f", x.GBps)
	}
	if x := r.Result.KeepAlive; x != nil {
		ka = f(x.P50us) + "/" + f(x.P99us)
	}
	if x := r.Result.NewConn; x != nil {
		nc = f(x.P50us) + "/" + f(x.P99us)
	}
	return fmt.Sprintf("%s · %s · %s · %s", gb, tb, ka, nc)
}

func oneLineStr(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func goals(b *strings.Builder, s *Summary) {
	n, d := s.Medians["nono"], s.Medians["direct"]
	if n == nil || d == nil || n.GBps == 0 || d.GBps == 0 {
		b.WriteString("- nono or direct did not produce a throughput figure; goals not evaluated\n")
		return
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(b, "- nono throughput ≥ 0.8× direct, plain TCP through the tunnel: %.2f× → %s\n", n.GBpsRatio, verdict(n.GBpsRatio >= 0.8))
	if n.TLSRatio > 0 {
		fmt.Fprintf(b, "- nono throughput ≥ 0.8× direct, HTTPS through the tunnel: %.2f× → %s\n", n.TLSRatio, verdict(n.TLSRatio >= 0.8))
	}
	for _, peer := range []string{"tinyproxy", "squid"} {
		p := s.Medians[peer]
		if p == nil || p.Rounds == 0 {
			fmt.Fprintf(b, "- ahead of %s: not measured\n", peer)
			continue
		}
		checks := []struct {
			what     string
			nv, pv   float64
			higherOK bool
		}{
			{"throughput", n.GBps, p.GBps, true},
			{"HTTPS throughput", n.TLSGBps, p.TLSGBps, true},
			{"keep-alive p50", n.KAp50, p.KAp50, false},
			{"keep-alive p99", n.KAp99, p.KAp99, false},
			{"new-conn p50", n.NCp50, p.NCp50, false},
			{"new-conn p99", n.NCp99, p.NCp99, false},
		}
		for _, c := range checks {
			if c.nv == 0 || c.pv == 0 {
				fmt.Fprintf(b, "- ahead of %s on %s: not measured in this run\n", peer, c.what)
				continue
			}
			ok := c.nv > c.pv
			if !c.higherOK {
				ok = c.nv < c.pv
			}
			fmt.Fprintf(b, "- ahead of %s on %s: nono %.2f vs %.2f → %s\n", peer, c.what, c.nv, c.pv, verdict(ok))
		}
	}
}
