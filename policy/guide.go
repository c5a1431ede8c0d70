package policy

import _ "embed"

//go:embed data/profile-guide.md
var guide string

// Guide returns the profile authoring guide (Markdown) printed by
// `nono profile guide`.
func Guide() string { return guide }
