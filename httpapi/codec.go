package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/regcenter/regcenter"
)

// DecodeJSON reads exactly one JSON value of at most limit bytes into v.
// Unknown fields, trailing data and a body over the limit are errors: a
// field the center would silently drop is a client bug worth reporting.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return regcenter.Errorf(errMediaType, codeMediaType, "the body must be application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, limit)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err == nil {
			return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "the body must hold exactly one JSON value")
		}
		return jsonError(err, limit)
	}
	return nil
}

func jsonError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return regcenter.Errorf(regcenter.ErrTooLarge, regcenter.CodeTooLarge, "the body must be at most %d bytes", limit)
	case errors.As(err, &syntax):
		return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "field %q must be a JSON %s", typ.Field, typ.Type.Kind())
	case errors.Is(err, io.EOF):
		return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "malformed JSON: the body ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json reports unknown fields only as a plain error.
		return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "the body is not valid JSON for this request")
	}
}

// WriteJSON marshals v before writing anything, so that a value that cannot
// be encoded becomes a clean 500 rather than half a response.
func WriteJSON(w http.ResponseWriter, r *http.Request, log *slog.Logger, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		WriteError(w, r, log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
