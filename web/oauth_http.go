package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sigilauth/sigil/oauth"
)

// maxFormBytes bounds the body of every OAuth and simplejwt request.
const maxFormBytes = 64 << 10

const contentTypeForm = "application/x-www-form-urlencoded"

func reqError(status int, format string, args ...any) *oauth.Error {
	return &oauth.Error{Code: oauth.CodeInvalidRequest, Status: status, Description: fmt.Sprintf(format, args...)}
}

// methodError is the 405 of an OAuth endpoint; allow is the Allow header.
func methodError(w http.ResponseWriter, method, allow string) *oauth.Error {
	w.Header().Set("Allow", allow)
	return reqError(http.StatusMethodNotAllowed, "method %s not allowed; use %s", method, allow)
}

// readOAuthForm reads an RFC 6749 form body: POST only (the caller checks),
// Content-Type application/x-www-form-urlencoded (UTF-8), at most 64 KiB,
// no parameter repeated (RFC 6749 §3.1), and nothing in the query string
// (credentials do not belong in URLs).
func readOAuthForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.URL.RawQuery != "" {
		return nil, reqError(http.StatusBadRequest, "parameters must be sent in the request body, not the URL")
	}
	// The bare media type (what clients send) needs no parsing; anything
	// else goes through mime.ParseMediaType.
	if ct := r.Header.Get("Content-Type"); !strings.EqualFold(ct, contentTypeForm) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != contentTypeForm {
			return nil, reqError(http.StatusUnsupportedMediaType, "content type must be %s", contentTypeForm)
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, reqError(http.StatusUnsupportedMediaType, "charset must be UTF-8")
		}
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, reqError(http.StatusBadRequest, "malformed form body")
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, reqError(http.StatusBadRequest, "parameter %s is repeated", shortParam(k))
		}
	}
	return form, nil
}

// readBody reads at most maxFormBytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, reqError(http.StatusRequestEntityTooLarge, "request body exceeds %d KiB", maxFormBytes>>10)
	}
	if err != nil {
		return nil, reqError(http.StatusBadRequest, "could not read the request body")
	}
	return body, nil
}

// shortParam quotes a client-chosen parameter name, truncated, for an error
// description.
func shortParam(k string) string {
	if len(k) > 40 {
		k = k[:40] + "..."
	}
	return strconv.Quote(k)
}

// setNoStore sets the caching headers of every token-bearing response
// (RFC 6749 §5.1).
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeOAuthJSON writes v as a 200 JSON response that must not be cached.
//
// A value with an AppendJSON method (oauth.TokenResponse) encodes itself
// into a pooled buffer, without encoding/json's reflection.
func (s *Server) writeOAuthJSON(w http.ResponseWriter, v any) {
	if a, ok := v.(jsonAppender); ok {
		bp := respBufs.Get().(*[]byte)
		b := append(a.AppendJSON((*bp)[:0]), '\n')
		h := w.Header()
		h.Set("Content-Type", "application/json;charset=UTF-8")
		setNoStore(h)
		_, _ = w.Write(b)
		if cap(b) <= maxPooledResp {
			*bp = b
		}
		respBufs.Put(bp)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.writeOAuthError(w, nil, fmt.Errorf("encode response: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	setNoStore(h)
	_, _ = w.Write(append(b, '\n'))
}

// jsonAppender is a response that appends its own JSON encoding (the bytes
// json.Marshal would produce).
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

// respBufs recycles the buffers of self-encoding responses (the
// ResponseWriter copies what it is given).
var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledResp bounds the buffers kept in respBufs.
const maxPooledResp = 32 << 10

// oauthErrorBody is RFC 6749 §5.2.
type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError maps err once, at the edge: an *oauth.Error is written as
// its status, headers (WWW-Authenticate, Retry-After) and RFC 6749 JSON;
// anything else is logged and answered 500 server_error without detail.
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	e := oauth.AsError(err)
	path := ""
	if r != nil {
		path = r.URL.Path
	}
	switch {
	case e == nil:
		s.log.Error("oauth request failed", "path", path, "err", err)
		e = &oauth.Error{Code: oauth.CodeServerError, Status: http.StatusInternalServerError, Description: "internal error"}
	case e.Status >= 500 && e.Reason == oauth.ReasonUnavailable:
		s.log.Warn("oauth request: storage unavailable", "path", path, "err", e)
	case e.Status >= 500 && e.Reason != oauth.ReasonBusy:
		s.log.Error("oauth request failed", "path", path, "err", e)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	setNoStore(h)
	if e.Challenge != "" {
		h.Set("WWW-Authenticate", e.Challenge)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", retryAfter(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	b, _ := json.Marshal(oauthErrorBody{Error: e.Code, Description: e.Description})
	_, _ = w.Write(append(b, '\n'))
}

// retryAfter renders d as whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}
