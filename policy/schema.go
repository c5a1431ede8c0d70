package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tailscale/hujson"
)

// SchemaID is the $id of the generated profile schema.
const SchemaID = "https://nono.sh/schemas/nono-profile.schema.json"

// schemaNode is the subset of JSON Schema (draft 2020-12) the profile format
// needs. The same tree validates profile files, so schema and parser cannot
// disagree.
type schemaNode struct {
	SchemaURI            string                 `json:"$schema,omitempty"`
	ID                   string                 `json:"$id,omitempty"`
	Title                string                 `json:"title,omitempty"`
	Description          string                 `json:"description,omitempty"`
	Type                 string                 `json:"type,omitempty"`
	Enum                 []string               `json:"enum,omitempty"`
	Pattern              string                 `json:"pattern,omitempty"`
	Minimum              *int64                 `json:"minimum,omitempty"`
	Maximum              *int64                 `json:"maximum,omitempty"`
	MinItems             *int                   `json:"minItems,omitempty"`
	Items                *schemaNode            `json:"items,omitempty"`
	Properties           map[string]*schemaNode `json:"properties,omitempty"`
	Required             []string               `json:"required,omitempty"`
	AdditionalProperties *schemaNode            `json:"additionalProperties,omitempty"`
	AnyOf                []*schemaNode          `json:"anyOf,omitempty"`
	// False is the boolean schema `false` (nothing validates).
	False bool `json:"-"`
}

type plainSchemaNode schemaNode

func (n *schemaNode) MarshalJSON() ([]byte, error) {
	if n.False {
		return []byte("false"), nil
	}
	return json.Marshal((*plainSchemaNode)(n))
}

func (n *schemaNode) UnmarshalJSON(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "false":
		*n = schemaNode{False: true}
		return nil
	case "true":
		*n = schemaNode{}
		return nil
	}
	return json.Unmarshal(b, (*plainSchemaNode)(n))
}

// schemaProvider is implemented by types with a custom JSON form.
type schemaProvider interface{ jsonSchema() *schemaNode }

func anyOf(alts ...*schemaNode) *schemaNode { return &schemaNode{AnyOf: alts} }

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var providerType = reflect.TypeFor[schemaProvider]()

// schemaFor builds the schema of t; tag constraints (enum, pattern, min)
// apply to the innermost scalar, through pointers and slices. Pointers are
// optional values; only fields tagged nullable:"true" also accept null.
func schemaFor(t reflect.Type, tag reflect.StructTag) *schemaNode {
	if t.Implements(providerType) {
		return reflect.Zero(t).Interface().(schemaProvider).jsonSchema()
	}
	switch t.Kind() {
	case reflect.Pointer:
		if tag.Get("nullable") == "true" {
			return anyOf(schemaFor(t.Elem(), tag), &schemaNode{Type: "null"})
		}
		return schemaFor(t.Elem(), tag)
	case reflect.String:
		n := &schemaNode{Type: "string", Pattern: tag.Get("pattern")}
		if e := tag.Get("enum"); e != "" {
			n.Enum = strings.Split(e, ",")
		}
		return n
	case reflect.Bool:
		return &schemaNode{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return intSchema(t, tag)
	case reflect.Slice:
		return &schemaNode{Type: "array", Items: schemaFor(t.Elem(), tag)}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic("policy: schema: map keys must be strings: " + t.String())
		}
		return &schemaNode{Type: "object", AdditionalProperties: schemaFor(t.Elem(), tag)}
	case reflect.Struct:
		return structSchema(t)
	}
	panic("policy: schema: unsupported type " + t.String())
}

func intSchema(t reflect.Type, tag reflect.StructTag) *schemaNode {
	n := &schemaNode{Type: "integer"}
	var lo, hi int64
	switch t.Kind() {
	case reflect.Uint8:
		hi = math.MaxUint8
	case reflect.Uint16:
		hi = math.MaxUint16
	case reflect.Uint32:
		hi = math.MaxUint32
	case reflect.Uint, reflect.Uint64:
		hi = math.MaxInt64
	case reflect.Int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case reflect.Int16:
		lo, hi = math.MinInt16, math.MaxInt16
	case reflect.Int32:
		lo, hi = math.MinInt32, math.MaxInt32
	default:
		lo, hi = math.MinInt64, math.MaxInt64
	}
	if m := tag.Get("min"); m != "" {
		v, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			panic("policy: schema: bad min tag " + m)
		}
		lo = v
	}
	n.Minimum, n.Maximum = &lo, &hi
	return n
}

// jsonName returns the JSON key of a struct field, or "" if it is not serialised.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

func structSchema(t reflect.Type) *schemaNode {
	n := &schemaNode{Type: "object", Properties: map[string]*schemaNode{}, AdditionalProperties: &schemaNode{False: true}}
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if name == "" {
			continue
		}
		p := schemaFor(f.Type, f.Tag)
		p.Description = f.Tag.Get("desc")
		n.Properties[name] = p
		if f.Tag.Get("required") == "true" {
			n.Required = append(n.Required, name)
		}
	}
	return n
}

var profileSchema = sync.OnceValue(func() *schemaNode {
	n := structSchema(reflectTypeOf[Profile]())
	n.SchemaURI = "https://json-schema.org/draft/2020-12/schema"
	n.ID = SchemaID
	n.Title = "nono profile"
	n.Description = "A nono sandbox profile (JSON with comments)."
	return n
})

var schemaBytes = sync.OnceValue(func() []byte {
	b, err := json.MarshalIndent(profileSchema(), "", "  ")
	if err != nil {
		panic("policy: schema: " + err.Error())
	}
	return append(b, '\n')
})

// Schema returns the JSON Schema (draft 2020-12) of profile files, generated
// from the Profile struct tags.
func Schema() []byte { return append([]byte(nil), schemaBytes()...) }

// --- validation of a parsed JSONC tree against a schemaNode ---

var patternCache sync.Map // string -> *regexp.Regexp

func compiledPattern(p string) *regexp.Regexp {
	if re, ok := patternCache.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(p)
	patternCache.Store(p, re)
	return re
}

var identRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`) })

func childPath(path, key string) string {
	if identRE().MatchString(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func jsonKind(v hujson.Value) string {
	switch v.Value.Kind() {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "invalid"
}

func typeMatches(want, got string) bool {
	return want == got || (want == "integer" && got == "number")
}

func acceptsKind(n *schemaNode, got string) bool {
	if len(n.AnyOf) > 0 {
		for _, a := range n.AnyOf {
			if acceptsKind(a, got) {
				return true
			}
		}
		return false
	}
	return !n.False && (n.Type == "" || typeMatches(n.Type, got))
}

func describeTypes(n *schemaNode) string {
	if len(n.AnyOf) == 0 {
		return n.Type
	}
	var parts []string
	for _, a := range n.AnyOf {
		parts = append(parts, describeTypes(a))
	}
	return strings.Join(parts, " or ")
}

// validateValue checks v against n and returns the first problem, with its
// JSON path, as a *ProfileError holding every problem found.
func validateValue(n *schemaNode, v hujson.Value, path string) error {
	var c issueCollector
	c.value(n, v, path)
	return c.err()
}

// maxIssues bounds how many problems one document reports.
const maxIssues = 100

// issueCollector walks a document and records every schema violation.
type issueCollector struct{ issues []Issue }

func (c *issueCollector) add(path, format string, args ...any) {
	if len(c.issues) < maxIssues {
		c.issues = append(c.issues, Issue{Path: path, Message: fmt.Sprintf(format, args...)})
	}
}

func (c *issueCollector) err() error {
	if len(c.issues) == 0 {
		return nil
	}
	return &ProfileError{Issues: c.issues}
}

func (c *issueCollector) value(n *schemaNode, v hujson.Value, path string) {
	if n.False {
		c.add(path, "no value is allowed at %s", path)
		return
	}
	got := jsonKind(v)
	if len(n.AnyOf) > 0 {
		for _, alt := range n.AnyOf {
			if acceptsKind(alt, got) {
				c.value(alt, v, path)
				return
			}
		}
		c.add(path, "wrong type at %s: expected %s, got %s", path, describeTypes(n), got)
		return
	}
	if n.Type != "" && !typeMatches(n.Type, got) {
		c.add(path, "wrong type at %s: expected %s, got %s", path, n.Type, got)
		return
	}
	switch n.Type {
	case "object":
		c.object(n, v.Value.(*hujson.Object), path)
	case "array":
		arr := v.Value.(*hujson.Array)
		if n.MinItems != nil && len(arr.Elements) < *n.MinItems {
			c.add(path, "too few items at %s: need at least %d", path, *n.MinItems)
		}
		for i, e := range arr.Elements {
			c.value(n.Items, e, fmt.Sprintf("%s[%d]", path, i))
		}
	case "string":
		s := v.Value.(hujson.Literal).String()
		if len(n.Enum) > 0 && !contains(n.Enum, s) {
			c.add(path, "invalid value %q at %s: expected one of %s", s, path, strings.Join(n.Enum, ", "))
		} else if n.Pattern != "" && !compiledPattern(n.Pattern).MatchString(s) {
			c.add(path, "invalid value %q at %s: must match %s", s, path, n.Pattern)
		}
	case "integer":
		raw := string(v.Value.(hujson.Literal))
		i, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			c.add(path, "wrong type at %s: expected integer, got %s", path, raw)
			return
		}
		if (n.Minimum != nil && i < *n.Minimum) || (n.Maximum != nil && i > *n.Maximum) {
			c.add(path, "value %d out of range at %s: must be between %d and %d", i, path, *n.Minimum, *n.Maximum)
		}
	}
}

func (c *issueCollector) object(n *schemaNode, obj *hujson.Object, path string) {
	seen := map[string]bool{}
	for _, m := range obj.Members {
		key := m.Name.Value.(hujson.Literal).String()
		p := childPath(path, key)
		if seen[key] {
			c.add(p, "duplicate key %q at %s", key, p)
			continue
		}
		seen[key] = true
		if prop, ok := n.Properties[key]; ok {
			c.value(prop, m.Value, p)
			continue
		}
		if n.AdditionalProperties != nil && !n.AdditionalProperties.False {
			c.value(n.AdditionalProperties, m.Value, p)
			continue
		}
		msg := fmt.Sprintf("unknown key %q at %s", key, p)
		if s := suggest(key, n.Properties); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		c.add(p, "%s", msg)
	}
	for _, r := range n.Required {
		if !seen[r] {
			c.add(path, "missing required key %q at %s", r, path)
		}
	}
}

// suggest returns the closest known key, if it is close enough to be a typo.
func suggest(key string, props map[string]*schemaNode) string {
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestD := "", 1<<30
	for _, k := range names {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= 2 || (bestD <= 3 && len(key) >= 8) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
