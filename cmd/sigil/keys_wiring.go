package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/storage"
)

// envKEK names the environment variable holding the base64 key-encryption
// key.
const envKEK = "SIGIL_KEY_ENCRYPTION_KEY"

// defaultKEKPath is where the bolt backend keeps its generated KEK: beside
// the data file.
func defaultKEKPath(cfg configs.Config) string {
	return filepath.Join(filepath.Dir(cfg.Storage.BoltPath), "key-encryption-key")
}

// loadSealer finds the key-encryption key: SIGIL_KEY_ENCRYPTION_KEY, else
// keys.encryption_key_file, else (bolt only) the file beside the data file,
// generated when create is set and it does not exist. The mongo backend
// refuses to run without an explicit KEK: a generated one on one replica's
// disk would lock the others out.
func loadSealer(cfg configs.Config, getenv func(string) string, create bool) (*keys.Sealer, error) {
	var kek []byte
	var err error
	switch {
	case getenv(envKEK) != "":
		kek, err = keys.DecodeKEK(getenv(envKEK))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envKEK, err)
		}
	case cfg.Keys.EncryptionKeyFile != "":
		kek, err = keys.ReadKEKFile(cfg.Keys.EncryptionKeyFile)
	case cfg.Storage.Backend == "bolt":
		path := defaultKEKPath(cfg)
		kek, err = keys.ReadKEKFile(path)
		if errors.Is(err, os.ErrNotExist) && create {
			kek, err = keys.GenerateKEKFile(path)
		}
	default:
		return nil, fmt.Errorf("storage.backend %s needs a key-encryption key: set %s (base64 of 32 bytes) or keys.encryption_key_file", cfg.Storage.Backend, envKEK)
	}
	if err != nil {
		return nil, err
	}
	return keys.NewSealer(kek)
}

// rotationPolicy derives the key policy from the configuration.
func rotationPolicy(cfg configs.Config) (keys.Policy, error) {
	sched, err := keys.ParseSchedule(cfg.Keys.Rotation)
	if err != nil {
		return keys.Policy{}, err
	}
	longest := max(cfg.Tokens.AccessTTL, cfg.Tokens.IDTokenTTL)
	return keys.Policy{
		Algorithms: cfg.Keys.Algorithms,
		RSABits:    cfg.Keys.RSABits,
		Schedule:   sched,
		Prepublish: cfg.Keys.Prepublish,
		RetainFor:  longest + cfg.Keys.ClockLeeway,
	}, nil
}

// newRotator builds the key ring and the rotator over store.
func newRotator(cfg configs.Config, store storage.KeySetStore, sealer *keys.Sealer, logger *slog.Logger, opts ...keys.RotatorOption) (*keys.Rotator, *keys.KeyRing, error) {
	pol, err := rotationPolicy(cfg)
	if err != nil {
		return nil, nil, err
	}
	ring := keys.NewKeyRing(sealer, cfg.Keys.Algorithms)
	rot, err := keys.NewRotator(store, sealer, ring, pol, append([]keys.RotatorOption{keys.WithLogger(logger)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return rot, ring, nil
}
