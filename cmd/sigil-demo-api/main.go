// Command sigil-demo-api is a minimal resource server protected by Sigil
// access tokens, for the README quickstart: GET /hello answers only to a
// request carrying a valid token for its audience with its scope.
//
//	sigil-demo-api [--issuer URL] [--audience A] [--scope S] [--listen ADDR]
//
// It verifies tokens offline with oauth/verify: discovery and the JWKS are
// read at start-up (so Sigil must be running), then each request costs a
// signature check, or a cache lookup for a token already seen.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr, nil))
}

// run parses args, builds the verifier and serves until ctx ends. It returns
// the exit status: 0 after a clean shutdown, 1 if the verifier or the
// listener cannot start, 2 on bad flags. If ready is not nil it receives the
// listening address once the server accepts connections (for tests).
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) int {
	fs := flag.NewFlagSet("sigil-demo-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "http://127.0.0.1:8080", "Sigil issuer URL, exactly as in the tokens' iss")
	audience := fs.String("audience", "demo-api", "audience the tokens' aud must contain")
	scope := fs.String("scope", "hello", "scope GET /hello requires")
	listen := fs.String("listen", "127.0.0.1:9090", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sigil-demo-api: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	v, err := verify.New(startCtx, *issuer, verify.WithAudience(*audience))
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "sigil-demo-api: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "sigil-demo-api: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: newHandler(v, *scope), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "sigil-demo-api: GET http://%s/hello needs a token from %s for audience %q with scope %q\n",
		ln.Addr(), *issuer, *audience, *scope)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "sigil-demo-api: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "sigil-demo-api: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// newHandler routes GET /hello through the verifier's Middleware and
// RequireScope(scope). The token never reaches a log line or a response.
func newHandler(v *verify.Verifier, scope string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /hello", v.Middleware(verify.RequireScope(scope)(http.HandlerFunc(hello))))
	return mux
}

// hello greets the token's subject.
func hello(w http.ResponseWriter, r *http.Request) {
	c, _ := verify.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"message":   "hello, " + c.Subject,
		"client_id": c.ClientID,
		"scope":     c.Scope,
		"expires":   c.Expiry.UTC().Format(time.RFC3339),
	})
}
