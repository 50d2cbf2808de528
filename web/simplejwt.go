package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sigilauth/sigil/oauth"
)

// The simplejwt routes speak Django REST framework: bodies are JSON,
// form-encoded or multipart; field errors are {"field": ["message"]};
// other errors are {"detail": "..."} (plus "code" where simplejwt adds
// one). Messages are the English ones of DRF and simplejwt 5.x.

// drfBody is an ordered JSON object (DRF preserves field order).
type drfBody []drfField

type drfField struct {
	key string
	val any
}

func (b drfBody) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range b {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// drfError is a DRF-shaped error response.
type drfError struct {
	status int
	body   drfBody
	header http.Header
}

func (e *drfError) Error() string { return "simplejwt request: " + strconv.Itoa(e.status) }

func detail(status int, msg string) *drfError {
	return &drfError{status: status, body: drfBody{{"detail", msg}}}
}

// writeDRF writes status and body as JSON.
func (s *Server) writeDRF(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"A server error occurred."}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	setNoStore(h)
	h.Add("Vary", "Accept") // after Vary: Origin, when CORS set it
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeDRFError writes a *drfError, or maps an oauth error the way
// simplejwt would answer it.
func (s *Server) writeDRFError(w http.ResponseWriter, r *http.Request, err error) {
	var de *drfError
	if !errors.As(err, &de) {
		de = s.simpleJWTError(r, err)
	}
	for k, v := range de.header {
		w.Header()[k] = v
	}
	s.writeDRF(w, de.status, de.body)
}

// bearerRealm is simplejwt's WWW-Authenticate for a 401.
const bearerRealm = `Bearer realm="api"`

// simpleJWTError maps an oauth error to simplejwt's answer.
func (s *Server) simpleJWTError(r *http.Request, err error) *drfError {
	e := oauth.AsError(err)
	if e == nil {
		s.log.Error("simplejwt request failed", "path", r.URL.Path, "err", err)
		return detail(http.StatusInternalServerError, "A server error occurred.")
	}
	unauth := func(body drfBody) *drfError {
		return &drfError{status: http.StatusUnauthorized, body: body, header: http.Header{"Www-Authenticate": {bearerRealm}}}
	}
	tokenErr := func(msg string) *drfError {
		return unauth(drfBody{{"detail", msg}, {"code", "token_not_valid"}})
	}
	retry := func(de *drfError) *drfError {
		if e.RetryAfter > 0 {
			de.header = http.Header{"Retry-After": {retryAfter(e.RetryAfter)}}
		}
		return de
	}
	switch e.Reason {
	case oauth.ReasonBadCredentials:
		return unauth(drfBody{{"detail", "No active account found with the given credentials"}})
	case oauth.ReasonTokenInvalid:
		return tokenErr("Token is invalid")
	case oauth.ReasonTokenExpired:
		return tokenErr("Token is expired")
	case oauth.ReasonTokenRevoked:
		return tokenErr("Token is blacklisted")
	case oauth.ReasonUserInactive:
		return unauth(drfBody{{"detail", "No active account found for the given token."}})
	case oauth.ReasonPasswordChanged:
		return unauth(drfBody{{"detail", "The user's password has been changed."}})
	case oauth.ReasonRateLimited:
		secs := retryAfter(e.RetryAfter)
		return retry(detail(http.StatusTooManyRequests, "Request was throttled. Expected available in "+secs+" seconds."))
	case oauth.ReasonBusy:
		return retry(detail(http.StatusServiceUnavailable, "Service temporarily unavailable, try again later."))
	case oauth.ReasonUnavailable:
		s.log.Warn("simplejwt request: storage unavailable", "path", r.URL.Path, "err", e)
		return retry(detail(http.StatusServiceUnavailable, "Service temporarily unavailable, try again later."))
	}
	s.log.Error("simplejwt request failed", "path", r.URL.Path, "err", e)
	return detail(http.StatusInternalServerError, "A server error occurred.")
}

// simpleJWTFields decodes the request body and returns the named fields,
// validated like DRF CharFields (required, not null, a string or number,
// no NUL characters, surrounding whitespace trimmed, not blank). Every
// field error is reported at once.
func simpleJWTFields(w http.ResponseWriter, r *http.Request, names ...string) ([]string, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		return nil, detail(http.StatusMethodNotAllowed, `Method "`+r.Method+`" not allowed.`)
	}
	raw, err := simpleJWTBody(w, r)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	var errs drfBody
	for i, name := range names {
		v, present := raw[name]
		msg := ""
		switch {
		case !present:
			msg = "This field is required."
		case v == nil:
			msg = "This field may not be null."
		default:
			s, ok := v.(string)
			if n, isNum := v.(json.Number); isNum {
				s, ok = n.String(), true
			}
			switch s = strings.TrimSpace(s); {
			case !ok:
				msg = "Not a valid string."
			case strings.ContainsRune(s, 0):
				msg = "Null characters are not allowed."
			case s == "":
				msg = "This field may not be blank."
			}
			out[i] = s
		}
		if msg != "" {
			errs = append(errs, drfField{name, []string{msg}})
		}
	}
	if len(errs) > 0 {
		return nil, &drfError{status: http.StatusBadRequest, body: errs}
	}
	return out, nil
}

// simpleJWTBody parses a JSON, form or multipart body into a map whose
// values are string, json.Number, nil, or something DRF would call "not a
// valid string". An empty body is an empty object.
func simpleJWTBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	ct := r.Header.Get("Content-Type")
	body, err := readBody(w, r)
	if err != nil {
		if oe := oauth.AsError(err); oe != nil && oe.Status == http.StatusRequestEntityTooLarge {
			return nil, detail(http.StatusRequestEntityTooLarge, "Request body exceeds 64 KiB.")
		}
		return nil, detail(http.StatusBadRequest, "Could not read the request body.")
	}
	if ct == "" && len(body) == 0 {
		return map[string]any{}, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, detail(http.StatusUnsupportedMediaType, `Unsupported media type "`+ct+`" in request.`)
	}
	switch mt {
	case "application/json":
		if len(bytes.TrimSpace(body)) == 0 {
			return map[string]any{}, nil
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil || d.More() {
			return nil, detail(http.StatusBadRequest, "JSON parse error - the body is not valid JSON")
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &drfError{status: http.StatusBadRequest, body: drfBody{{"non_field_errors",
				[]string{"Invalid data. Expected a dictionary, but got " + pythonType(v) + "."}}}}
		}
		// Refused as a repeated form field is: with "last one wins", a
		// body checked by one reader can mean something else to another.
		if k, dup := duplicateKey(body); dup {
			return nil, detail(http.StatusBadRequest, "JSON parse error - duplicate key "+shortParam(k))
		}
		return m, nil
	case contentTypeForm:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, detail(http.StatusBadRequest, "Malformed form body.")
		}
		return formMap(form)
	case "multipart/form-data":
		mf, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(maxFormBytes)
		if err != nil {
			return nil, detail(http.StatusBadRequest, "Multipart form parse error.")
		}
		defer func() { _ = mf.RemoveAll() }()
		return formMap(mf.Value)
	}
	return nil, detail(http.StatusUnsupportedMediaType, `Unsupported media type "`+ct+`" in request.`)
}

// duplicateKey reports the first key that appears twice in the top-level
// object of body, which must be valid JSON holding an object. Nested
// objects are not searched: every field the endpoints read must be a
// string, so an object value is refused anyway.
func duplicateKey(body []byte) (string, bool) {
	d := json.NewDecoder(bytes.NewReader(body))
	if _, err := d.Token(); err != nil { // the opening brace
		return "", false
	}
	seen := make(map[string]bool)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return "", false
		}
		k, _ := t.(string)
		if seen[k] {
			return k, true
		}
		seen[k] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// formMap flattens form values, refusing repeated keys (which DRF would
// silently resolve to the last value).
func formMap(form url.Values) (map[string]any, error) {
	m := make(map[string]any, len(form))
	for k, v := range form {
		if len(v) > 1 {
			return nil, detail(http.StatusBadRequest, "Parameter "+shortParam(k)+" is repeated.")
		}
		m[k] = v[0]
	}
	return m, nil
}

// pythonType names a decoded JSON value the way DRF's message does.
func pythonType(v any) string {
	switch v := v.(type) {
	case []any:
		return "list"
	case string:
		return "str"
	case json.Number:
		if strings.ContainsAny(v.String(), ".eE") {
			return "float"
		}
		return "int"
	case bool:
		return "bool"
	case nil:
		return "NoneType"
	}
	return "object"
}

// handleSimpleJWTObtain is POST /api/token/: {username, password} →
// {refresh, access}.
func (s *Server) handleSimpleJWTObtain(w http.ResponseWriter, r *http.Request) {
	f, err := simpleJWTFields(w, r, "username", "password")
	if err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	pair, err := s.deps.OAuth.SimpleJWTObtain(r.Context(), f[0], f[1], s.clientAddr(r))
	if err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	s.writeDRF(w, http.StatusOK, drfBody{{"refresh", pair.Refresh}, {"access", pair.Access}})
}

// handleSimpleJWTRefresh is POST /api/token/refresh/: {refresh} →
// {access, refresh} (rotated).
func (s *Server) handleSimpleJWTRefresh(w http.ResponseWriter, r *http.Request) {
	f, err := simpleJWTFields(w, r, "refresh")
	if err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	pair, err := s.deps.OAuth.SimpleJWTRefresh(r.Context(), f[0])
	if err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	s.writeDRF(w, http.StatusOK, drfBody{{"access", pair.Access}, {"refresh", pair.Refresh}})
}

// handleSimpleJWTVerify is POST /api/token/verify/: {token} → {}.
func (s *Server) handleSimpleJWTVerify(w http.ResponseWriter, r *http.Request) {
	f, err := simpleJWTFields(w, r, "token")
	if err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	if err := s.deps.OAuth.SimpleJWTVerify(r.Context(), f[0]); err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	s.writeDRF(w, http.StatusOK, drfBody{})
}

// handleSimpleJWTBlacklist is POST /api/token/blacklist/: {refresh} → {}.
func (s *Server) handleSimpleJWTBlacklist(w http.ResponseWriter, r *http.Request) {
	f, err := simpleJWTFields(w, r, "refresh")
	if err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	if err := s.deps.OAuth.SimpleJWTBlacklist(r.Context(), f[0]); err != nil {
		s.writeDRFError(w, r, err)
		return
	}
	s.writeDRF(w, http.StatusOK, drfBody{})
}
