package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/storage"
)

// The backup file is JSON lines: a header, one line per record, and a
// trailer counting the records (a file without it is truncated):
//
//	{"format":"sigil-backup","version":1,"created_at":"...","backend":"bolt","sigil_version":"..."}
//	{"c":"users","k":"<base64>","v":"<base64>"}          (bolt: raw key and value)
//	{"c":"users","d":{...canonical Extended JSON...}}   (mongo: the document)
//	{"end":true,"records":2}
//
// Records are opaque to other backends, so a backup restores into the
// backend that wrote it. Signing keys are in it as stored, sealed; the
// key-encryption key is never written.
const (
	backupFormat  = "sigil-backup"
	backupVersion = 1
)

// backupHeader is the first line of a backup file.
type backupHeader struct {
	Format       string    `json:"format"`
	Version      int       `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	Backend      string    `json:"backend"`
	SigilVersion string    `json:"sigil_version"`
}

// backupLine is a record line or the trailer.
type backupLine struct {
	C       string          `json:"c,omitempty"`
	K       []byte          `json:"k,omitempty"`
	V       []byte          `json:"v,omitempty"`
	D       json.RawMessage `json:"d,omitempty"`
	End     bool            `json:"end,omitempty"`
	Records int             `json:"records,omitempty"`
}

func newBackupCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent snapshot of storage to FILE (mode 0600, atomically)",
		Long: `Write every record of storage to FILE, a versioned JSON-lines file, through a
temporary file renamed into place (mode 0600). Bolt is read in one read
transaction, so the copy is one point in time and a running server is not
needed (bolt: stop it first, the file is locked); MongoDB is read collection
by collection while the replicas keep running.

Signing keys stay sealed under the key-encryption key, which is NOT in the
backup: keep the KEK (SIGIL_KEY_ENCRYPTION_KEY, keys.encryption_key_file or,
for bolt, the generated key-encryption-key file beside the data file) in a
separate place; a restore needs it.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				return a.backup(cmd.Context(), cfg, s, args[0])
			})
		},
	}
}

func newRestoreCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Load a backup into an empty store",
		Long: `Load FILE, written by sigil backup, into the configured storage, which must be
empty (a fresh bolt path or MongoDB database): a store holding any record is
refused with exit status 2. The whole file is read and checked before
anything is written. Start the server with the key-encryption key the backed
up deployment used.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(cfg configs.Config, s storage.Store) error {
				return a.restore(cmd.Context(), cfg, s, args[0])
			})
		},
	}
}

func snapshotter(s storage.Store) (storage.Snapshotter, error) {
	sn, ok := s.(storage.Snapshotter)
	if !ok {
		return nil, failure(fmt.Errorf("storage %T cannot be backed up", s))
	}
	return sn, nil
}

// backup writes the snapshot to a temporary file beside path, then renames
// it into place: path is either the previous file or a complete backup.
func (a *app) backup(ctx context.Context, cfg configs.Config, s storage.Store, path string) (err error) {
	sn, err := snapshotter(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sigil-backup-*")
	if err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	hdr := backupHeader{Format: backupFormat, Version: backupVersion, CreatedAt: a.now().UTC(), Backend: cfg.Storage.Backend, SigilVersion: version}
	if err := enc.Encode(hdr); err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	n := 0
	err = sn.Snapshot(ctx, func(r storage.SnapshotRecord) error {
		line := backupLine{C: r.Collection, K: r.Key, V: r.Value}
		if r.Key == nil {
			line.V, line.D = nil, json.RawMessage(r.Value)
		}
		n++
		return enc.Encode(line)
	})
	if err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	if err := enc.Encode(backupLine{End: true, Records: n}); err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	if err := w.Flush(); err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	if err := tmp.Sync(); err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	if err := tmp.Close(); err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return failure(fmt.Errorf("backup: %w", err))
	}
	fmt.Fprintf(a.stdout, "backed up %d records of %s storage to %s\n", n, cfg.Storage.Backend, path)
	return nil
}

// readBackup reads and checks a whole backup file.
func readBackup(r io.Reader, backend string) ([]storage.SnapshotRecord, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var hdr backupHeader
	if err := dec.Decode(&hdr); err != nil || hdr.Format != backupFormat {
		return nil, usagef("not a sigil backup (no %q header)", backupFormat)
	}
	if hdr.Version != backupVersion {
		return nil, usagef("backup format version %d; this sigil reads version %d", hdr.Version, backupVersion)
	}
	if hdr.Backend != backend {
		return nil, usagef("the backup is of %s storage; storage.backend is %s (a backup restores into the backend that wrote it)", hdr.Backend, backend)
	}
	var recs []storage.SnapshotRecord
	for {
		var l backupLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, usagef("the backup is truncated after %d records (no end line)", len(recs))
			}
			return nil, usagef("backup record %d: %v", len(recs)+1, err)
		}
		if l.End {
			if l.Records != len(recs) {
				return nil, usagef("the backup's end line counts %d records, the file has %d", l.Records, len(recs))
			}
			if dec.More() {
				return nil, usagef("data after the backup's end line")
			}
			return recs, nil
		}
		if l.C == "" {
			return nil, usagef("backup record %d has no collection", len(recs)+1)
		}
		r := storage.SnapshotRecord{Collection: l.C, Key: l.K, Value: l.V}
		if l.D != nil {
			r.Value = l.D
		}
		recs = append(recs, r)
	}
}

// restore loads path into s, which must be empty.
func (a *app) restore(ctx context.Context, cfg configs.Config, s storage.Store, path string) error {
	sn, err := snapshotter(s)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return usageError(fmt.Errorf("restore: %w", err))
	}
	defer f.Close()
	recs, err := readBackup(f, cfg.Storage.Backend)
	if err != nil {
		return err
	}
	if err := sn.Restore(ctx, recs); err != nil {
		if errors.Is(err, storage.ErrNotEmpty) {
			return usageError(fmt.Errorf("restore refused: %w (restore into a fresh bolt path or MongoDB database)", err))
		}
		return failure(fmt.Errorf("restore: %w", err))
	}
	fmt.Fprintf(a.stdout, "restored %d records into %s storage\n", len(recs), cfg.Storage.Backend)
	return nil
}
