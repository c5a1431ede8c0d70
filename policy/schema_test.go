package policy

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tailscale/hujson"
)

func TestSchemaRoundTrip(t *testing.T) {
	var s schemaNode
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	if s.SchemaURI != "https://json-schema.org/draft/2020-12/schema" || s.ID != SchemaID || s.AdditionalProperties == nil || !s.AdditionalProperties.False {
		t.Fatalf("schema header wrong: %+v", s)
	}
	// The re-read schema equals the in-memory one.
	if !reflect.DeepEqual(&s, profileSchema()) {
		t.Fatalf("schema does not round-trip")
	}
	// Every built-in validates against the schema read back from bytes.
	for _, name := range BuiltinProfileNames() {
		src, _ := BuiltinProfileSource(name)
		v, err := hujson.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateValue(&s, v, "$"); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
	// Every struct field appears in the schema, recursively.
	checkFields(t, reflect.TypeFor[Profile](), &s, "$")
	// And the schema rejects what the parser rejects.
	v, _ := hujson.Parse([]byte(`{"filesystem": {"allow": [1]}}`))
	if validateValue(&s, v, "$") == nil {
		t.Errorf("schema accepted a number path")
	}
}

func checkFields(t *testing.T, typ reflect.Type, n *schemaNode, path string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
		switch {
		case len(n.AnyOf) > 0:
			n = n.AnyOf[0]
			continue
		case typ.Kind() == reflect.Slice && n.Items != nil:
			n = n.Items
		case typ.Kind() == reflect.Map && n.AdditionalProperties != nil:
			n = n.AdditionalProperties
		}
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct {
		return
	}
	if len(n.AnyOf) > 0 { // string-or-object forms: the object is the last alternative
		n = n.AnyOf[len(n.AnyOf)-1]
	}
	if n.Type != "object" { // custom scalar forms such as OptString
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := jsonName(f)
		if name == "" {
			continue
		}
		p, ok := n.Properties[name]
		if !ok {
			t.Errorf("field %s.%s (%s) missing from schema", path, name, f.Name)
			continue
		}
		if p.Description == "" {
			t.Errorf("field %s.%s has no description", path, name)
		}
		checkFields(t, f.Type, p, path+"."+name)
	}
}
