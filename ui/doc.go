// Package ui owns how nono talks to people on a terminal: themes, colour
// (honouring NO_COLOR and non-TTY output), silence, verbosity and the
// interactive yes/no prompt. It must not decide policy or run anything.
package ui
