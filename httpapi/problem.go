package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/wire"
)

// Kinds of failure that exist only in HTTP; they travel as *regcenter.Error
// like the domain's, so that statusOf stays the one mapping.
var (
	errMethodNotAllowed = errors.New("method not allowed")
	errHTTPVersion      = errors.New("HTTP version not supported")
	errMediaType        = errors.New("unsupported media type")
)

// Transport-level codes.
const (
	codeMethodNotAllowed = "method_not_allowed"
	codeHTTP2Required    = "http2_required"
	codeMediaType        = "unsupported_media_type"
	codeInternal         = "internal"
)

// storeRetryAfter is what a client is told to wait when the store is down.
const storeRetryAfter = 5 * time.Second

// statusOf is the one place where a kind of failure becomes a status.
func statusOf(kind error) int {
	switch kind {
	case regcenter.ErrInvalid:
		return http.StatusBadRequest
	case regcenter.ErrForbidden:
		return http.StatusForbidden
	case regcenter.ErrNotFound:
		return http.StatusNotFound
	case regcenter.ErrConflict:
		return http.StatusConflict
	case regcenter.ErrTooLarge:
		return http.StatusRequestEntityTooLarge
	case regcenter.ErrUnavailable:
		return http.StatusServiceUnavailable
	case errMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case errHTTPVersion:
		return http.StatusHTTPVersionNotSupported
	case errMediaType:
		return http.StatusUnsupportedMediaType
	default:
		return http.StatusInternalServerError
	}
}

// writeError renders err for the client. Only *regcenter.Error details are
// sent; anything else is logged here and answered as a bare 500, so that
// internal messages never reach a client.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, ok := regcenter.AsError(err)
	if !ok {
		if errors.Is(err, regcenter.ErrUnavailable) {
			log.Warn("store unavailable", "route", r.Pattern, "err", err)
			e = &regcenter.Error{Kind: regcenter.ErrUnavailable, Code: regcenter.CodeStoreUnavailable,
				Detail: "the center cannot reach its store; retry later", RetryAfter: storeRetryAfter}
		} else {
			log.Error("request failed", "route", r.Pattern, "err", err)
			e = &regcenter.Error{Code: codeInternal, Detail: "internal error"}
		}
	}
	status := statusOf(e.Kind)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Round(time.Second)/time.Second)))
	}
	body, _ := json.Marshal(wire.Problem{
		Type:   wire.ProblemType(e.Code),
		Title:  http.StatusText(status),
		Status: status,
		Detail: e.Detail,
		Code:   e.Code,
	})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}
