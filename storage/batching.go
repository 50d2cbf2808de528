package storage

import "context"

type shareCommitKey struct{}

// WithSharedCommit marks the writes made with ctx as ones that may wait a
// little for other writes to share their commit, and its fsync, because
// the caller expects more writes to follow at once (the next login of a
// queue, say). A backend that groups commits may then hold such a write
// back for a bounded time, or until a write that does not wait arrives;
// others ignore the mark. It changes neither what is written nor the
// promise that a write returns only once it is durable: only how long
// that takes.
func WithSharedCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, shareCommitKey{}, true)
}

// SharedCommit reports whether ctx carries WithSharedCommit.
func SharedCommit(ctx context.Context) bool {
	v, _ := ctx.Value(shareCommitKey{}).(bool)
	return v
}
