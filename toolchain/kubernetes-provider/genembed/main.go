// genembed writes the two files the kubernetes-provider wrapper embeds, from the provider
// module's committed sources (cmd/pulumi-resource-kubernetes/ in
// github.com/pulumi/pulumi-kubernetes/provider/v4):
//
//	schema-embed.json             schema.json with its top-level "version" set, compacted
//	terraform-mapping-embed.json  terraform-mapping.json, compacted
//
// Usage: go run ./genembed -module-dir DIR -version 4.34.2 -out DIR
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

const cmdDir = "cmd/pulumi-resource-kubernetes"

func main() {
	moduleDir := flag.String("module-dir", "", "directory of the github.com/pulumi/pulumi-kubernetes/provider/v4 module")
	version := flag.String("version", "", "version to write into the schema (e.g. 4.34.2)")
	out := flag.String("out", ".", "directory to write schema-embed.json and terraform-mapping-embed.json to")
	flag.Parse()
	if err := run(*moduleDir, *version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genembed:", err)
		os.Exit(1)
	}
}

func run(moduleDir, version, out string) error {
	if moduleDir == "" || version == "" {
		return fmt.Errorf("-module-dir and -version are required")
	}
	src := filepath.Join(moduleDir, cmdDir)
	schema, err := os.ReadFile(filepath.Join(src, "schema.json"))
	if err != nil {
		return err
	}
	embedded, err := versionedSchema(schema, version)
	if err != nil {
		return fmt.Errorf("schema.json: %w", err)
	}
	mapping, err := os.ReadFile(filepath.Join(src, "terraform-mapping.json"))
	if err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, mapping); err != nil {
		return fmt.Errorf("terraform-mapping.json: %w", err)
	}
	if err := writeFile(filepath.Join(out, "schema-embed.json"), embedded); err != nil {
		return err
	}
	return writeFile(filepath.Join(out, "terraform-mapping-embed.json"), compact.Bytes())
}

// versionedSchema returns the package schema with its top-level "version" replaced (or added),
// every other member kept as it is (compacted).
func versionedSchema(schema []byte, version string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(schema, &top); err != nil {
		return nil, err
	}
	if top == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	v, err := json.Marshal(version)
	if err != nil {
		return nil, err
	}
	top["version"] = v
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(top); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// writeFile writes atomically (a temporary file renamed into place).
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
