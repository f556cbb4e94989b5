package motiad

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The golden vectors of protocol/vectors/ against the child (SPEC §10): lines
// addressed to the child (or either side) get the outcome their vector
// names; lines addressed to the broker classify as well-formed messages.

type vector struct {
	Name    string          `json:"name"`
	To      string          `json:"to"`
	Message json.RawMessage `json:"message"`
	Text    *string         `json:"text"`
	Base64  *string         `json:"base64"`
	Pattern *struct {
		Prefix string `json:"prefix"`
		Fill   string `json:"fill"`
		Suffix string `json:"suffix"`
		Bytes  int    `json:"bytes"`
	} `json:"pattern"`
	Expect struct {
		Outcome  string          `json:"outcome"`
		Code     int             `json:"code"`
		ID       json.RawMessage `json:"id"`
		DataPath string          `json:"dataPath"`
	} `json:"expect"`
}

type vectorFile struct {
	MaxLineBytes int      `json:"maxLineBytes"`
	Vectors      []vector `json:"vectors"`
}

func loadVectors(t *testing.T) (int, []vector) {
	t.Helper()
	var all []vector
	limit := 0
	for _, name := range []string{"valid.json", "invalid.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "protocol", "vectors", name))
		if err != nil {
			t.Fatal(err)
		}
		var file vectorFile
		if err := json.Unmarshal(raw, &file); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		limit = file.MaxLineBytes
		all = append(all, file.Vectors...)
	}
	return limit, all
}

// lineOf is the vector's line without its newline (protocol/vectors/README.md):
// a message is encoded compactly with its keys in the order given.
func lineOf(t *testing.T, v vector) []byte {
	t.Helper()
	switch {
	case v.Message != nil:
		var compact bytes.Buffer
		if err := json.Compact(&compact, v.Message); err != nil {
			t.Fatal(err)
		}
		return compact.Bytes()
	case v.Text != nil:
		return []byte(*v.Text)
	case v.Base64 != nil:
		line, err := base64.StdEncoding.DecodeString(*v.Base64)
		if err != nil {
			t.Fatal(err)
		}
		return line
	default:
		p := v.Pattern
		n := p.Bytes - len(p.Prefix) - len(p.Suffix)
		return []byte(p.Prefix + string(bytes.Repeat([]byte(p.Fill), n)) + p.Suffix)
	}
}

func methodOf(v vector) string {
	var m struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(v.Message, &m)
	return m.Method
}

// protocolErrors mean a line was refused as a message; an accepted request never gets one.
var protocolErrors = map[int]bool{-32700: true, -32600: true, -32601: true, -32602: true, -32005: true}

func TestGoldenVectorsForTheChild(t *testing.T) {
	limit, vectors := loadVectors(t)
	shared := startChild(t)
	shared.initialize(nil, limit)
	for _, v := range vectors {
		v := v
		if v.To == "broker" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			p := shared
			fresh := methodOf(v) == "initialize" || methodOf(v) == "shutdown"
			if fresh {
				p = startChild(t)
				if methodOf(v) == "shutdown" {
					p.initialize(nil, limit)
				}
			}
			p.t = t
			p.write(lineOf(t, v))
			if methodOf(v) == "shutdown" {
				answer := p.next()
				if string(answer["result"]) != "null" {
					t.Fatalf("shutdown answered %s", stringify(answer))
				}
				return
			}
			var answers []map[string]json.RawMessage
			barrier := p.request("ping", nil)
			for {
				line := p.next()
				if string(line["id"]) == jsonInt(barrier) && line["result"] != nil {
					break
				}
				answers = append(answers, line)
			}
			check(t, v, answers)
		})
	}
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

func check(t *testing.T, v vector, answers []map[string]json.RawMessage) {
	t.Helper()
	switch v.Expect.Outcome {
	case "ignore":
		if len(answers) != 0 {
			t.Fatalf("expected no answer, got %s", stringify(answers[0]))
		}
	case "accept":
		for _, answer := range answers {
			if raw, isError := answer["error"]; isError {
				var e struct{ Code int }
				_ = json.Unmarshal(raw, &e)
				if protocolErrors[e.Code] {
					t.Fatalf("refused a valid line: %s", stringify(answer))
				}
			}
		}
	case "error":
		if len(answers) != 1 {
			t.Fatalf("expected one error answer, got %d", len(answers))
		}
		answer := answers[0]
		if code := errorCode(t, answer); code != v.Expect.Code {
			t.Fatalf("expected code %d, got %s", v.Expect.Code, stringify(answer))
		}
		want := v.Expect.ID
		if want == nil {
			want = json.RawMessage("null")
		}
		if string(answer["id"]) != string(want) {
			t.Fatalf("expected id %s, got %s", want, answer["id"])
		}
		if v.Expect.DataPath != "" {
			var e struct {
				Data struct {
					Path string `json:"path"`
				} `json:"data"`
			}
			_ = json.Unmarshal(answer["error"], &e)
			if e.Data.Path != v.Expect.DataPath {
				t.Fatalf("expected data.path %s, got %s", v.Expect.DataPath, answer["error"])
			}
		}
	default:
		t.Fatalf("unknown outcome %q", v.Expect.Outcome)
	}
}

func TestGoldenVectorsForTheBrokerClassifyAsMessages(t *testing.T) {
	_, vectors := loadVectors(t)
	for _, v := range vectors {
		if v.To != "broker" || v.Message == nil {
			continue
		}
		msg := classify(lineOf(t, v))
		if msg.kind == kindBad || msg.kind == kindDrop {
			t.Errorf("%s: read as a bad line: %s", v.Name, msg.why)
		}
	}
}
