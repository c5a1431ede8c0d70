package ui

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Themes lists the accepted theme names, default first.
var Themes = []string{"mocha", "latte", "frappe", "macchiato", "tokyo-night", "minimal"}

type palette struct{ accent, ok, warn, err, dim string }

var palettes = map[string]palette{
	"mocha":       {"#cba6f7", "#a6e3a1", "#f9e2af", "#f38ba8", "#6c7086"},
	"latte":       {"#8839ef", "#40a02b", "#df8e1d", "#d20f39", "#9ca0b0"},
	"frappe":      {"#ca9ee6", "#a6d189", "#e5c890", "#e78284", "#737994"},
	"macchiato":   {"#c6a0f6", "#a6da95", "#eed49f", "#ed8796", "#6e738d"},
	"tokyo-night": {"#bb9af7", "#9ece6a", "#e0af68", "#f7768e", "#565f89"},
	"minimal":     {},
}

// ResolveTheme returns the theme for name, and false when name was not a
// known theme (the caller warns; the seed says unknown names fall back to mocha).
func ResolveTheme(name string) (string, bool) {
	if name == "" {
		return "mocha", true
	}
	if _, ok := palettes[name]; ok {
		return name, true
	}
	return "mocha", false
}

// Printer writes nono's own messages (to stderr, or to stdout for a
// command's styled answer).
type Printer struct {
	W       io.Writer
	Silent  bool
	Verbose int
	Theme   string // resolved theme name
	color   bool
	pal     palette
}

// NewPrinter builds a printer for w. Colour is used when w is a terminal
// (or CLICOLOR_FORCE is set to a non-zero value), NO_COLOR is unset, TERM is
// not "dumb" and the theme is not "minimal". NO_COLOR always wins.
func NewPrinter(w *os.File, theme string, silent bool, verbose int) *Printer {
	theme, _ = ResolveTheme(theme)
	return &Printer{W: w, Silent: silent, Verbose: verbose, Theme: theme, color: useColor(w, theme), pal: palettes[theme]}
}

// For returns a printer with the same theme, silence and verbosity that
// writes to w, deciding colour for w.
func (p *Printer) For(w *os.File) *Printer {
	return NewPrinter(w, p.Theme, p.Silent, p.Verbose)
}

func useColor(w *os.File, theme string) bool {
	if _, noColor := os.LookupEnv("NO_COLOR"); noColor || theme == "minimal" {
		return false
	}
	if f := os.Getenv("CLICOLOR_FORCE"); f != "" && f != "0" {
		return true
	}
	return IsTerminal(w) && os.Getenv("TERM") != "dumb"
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlGetTermios)
	return err == nil
}

func (p *Printer) paint(hex, s string) string {
	if !p.color || hex == "" {
		return s
	}
	var r, g, b int
	fmt.Sscanf(hex, "#%02x%02x%02x", &r, &g, &b)
	return fmt.Sprintf("\x1b[38;2;%d;%d;%dm%s\x1b[0m", r, g, b, s)
}

// Accent, OK, Warn, Err and Dim style a fragment.
func (p *Printer) Accent(s string) string { return p.paint(p.pal.accent, s) }
func (p *Printer) OK(s string) string     { return p.paint(p.pal.ok, s) }
func (p *Printer) Warn(s string) string   { return p.paint(p.pal.warn, s) }
func (p *Printer) Err(s string) string    { return p.paint(p.pal.err, s) }
func (p *Printer) Dim(s string) string    { return p.paint(p.pal.dim, s) }

// Printf writes unless silent.
func (p *Printer) Printf(format string, a ...any) {
	if p.Silent {
		return
	}
	fmt.Fprintf(p.W, format, a...)
}

// Infof writes at -v and above.
func (p *Printer) Infof(format string, a ...any) {
	if p.Verbose >= 1 {
		p.Printf(format, a...)
	}
}

// Debugf writes at -vv and above.
func (p *Printer) Debugf(format string, a ...any) {
	if p.Verbose >= 2 {
		p.Printf(format, a...)
	}
}

// Warnf writes a warning line unless silent.
func (p *Printer) Warnf(format string, a ...any) {
	p.Printf("%s %s\n", p.Warn("warning:"), fmt.Sprintf(format, a...))
}

// Confirm asks a yes/no question on the terminal; anything but y/yes is no.
func Confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
