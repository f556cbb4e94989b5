// Conformance fixture ConformanceBodyStream (protocol/SPEC.md §11.1).
package conformance

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"

	"motiad.dev/sdk/motiad"
)

func init() {
	motiad.Register(motiad.Config{
		"name": "ConformanceBodyStream", "type": "api", "path": "/conformance/body-stream", "method": "POST", "emits": []string{},
		"streamBody": true,
	}, bodyStream)
}

func bodyStream(ctx *motiad.Context, _ json.RawMessage) (any, error) {
	body := ctx.BodyStream()
	var whole []byte
	chunks := 0
	buf := make([]byte, 1<<20)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			chunks++
			whole = append(whole, buf[:n]...)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	first := whole
	if len(first) > 16 {
		first = first[:16]
	}
	return motiad.Response{Status: 200, Body: map[string]any{"bytes": len(whole), "chunks": chunks, "hex": hex.EncodeToString(first)}}, nil
}
