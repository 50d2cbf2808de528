package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth/userimport"
	"github.com/sigilauth/sigil/storage"
)

func newUsersImportCmd(a *app) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "import FILE [--format django-json|csv]",
		Short: "Import Django users, keeping their password hashes",
		Long: `Import users exported from Django's auth_user table, keeping their password
hashes (pbkdf2_sha256, bcrypt, argon2id) so they log in with their old
passwords; each hash is upgraded to argon2id on the user's first login.

Formats:
  django-json  the output of "manage.py dumpdata auth.user" (any indentation)
  csv          a header row naming columns among id, username, password (or
               password_hash), email, first_name, last_name, is_active,
               date_joined; Django's last_login, is_superuser and is_staff
               columns are ignored

The Django primary key becomes the Sigil user id ("42"), so tokens carry
sub "42" and, with compat.simplejwt, user_id 42 as Django issued them. A CSV
without an id column gets random ids.

Rows that cannot be imported are reported by line and skipped; the others
are imported. Users whose username already exists are left untouched, so
running the same import again changes nothing, and an interrupted import
can be repeated. The exit status is 2 if any row was skipped. FILE "-"
reads stdin. --format defaults from the extension (.json, .csv).`,
		Example: `  python manage.py dumpdata auth.user > users.json && sigil users import users.json
  sigil users import users.csv --format csv`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.notRemote("users import"); err != nil {
				return err
			}
			return a.importUsers(cmd, args[0], format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "input format: django-json or csv (default: from the file extension)")
	return cmd
}

func (a *app) importUsers(cmd *cobra.Command, path, format string) error {
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".json":
			format = userimport.FormatDjangoJSON
		case ".csv":
			format = userimport.FormatCSV
		default:
			return usagef("--format is required (django-json or csv) when FILE does not end in .json or .csv")
		}
	}
	if format != userimport.FormatDjangoJSON && format != userimport.FormatCSV {
		return usagef("--format %q: want django-json or csv", format)
	}
	// Check the configuration before reading a possibly large file.
	cfg, err := a.config()
	if err != nil {
		return err
	}
	var in io.Reader = a.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return usagef("open %s: %v", path, err)
		}
		defer f.Close()
		in = f
	}
	rows, bad, err := userimport.Parse(in, format, a.now())
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", path, err))
	}
	for _, b := range bad {
		fmt.Fprintf(a.stderr, "%s: skipped %s\n", path, b)
	}
	return a.withConfiguredStore(cmd.Context(), cfg, func(_ configs.Config, s storage.Store) error {
		bar := a.progressBar(len(rows))
		res, err := userimport.Import(cmd.Context(), s, rows, bar.update)
		bar.done()
		for _, c := range res.Conflicts {
			fmt.Fprintf(a.stderr, "%s: skipped %s\n", path, c)
		}
		skipped := len(bad) + len(res.Conflicts)
		if _, werr := fmt.Fprintf(a.stdout, "%d users imported, %d already present, %d rows skipped\n", res.Created, res.Existing, skipped); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			return failure(fmt.Errorf("import stopped (run it again to continue): %w", err))
		}
		if skipped > 0 {
			return usagef("%d rows of %s were skipped (listed above)", skipped, path)
		}
		return nil
	})
}

// progress draws a one-line bar on a terminal stderr; elsewhere it does
// nothing.
type progress struct {
	w     io.Writer
	total int
	last  int // last percentage drawn
}

func (a *app) progressBar(total int) *progress {
	f, ok := a.stderr.(*os.File)
	if !ok || total == 0 || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{w: f, total: total, last: -1}
}

const barWidth = 30

func (p *progress) update(done int) {
	if p.w == nil {
		return
	}
	pct := done * 100 / p.total
	if pct == p.last {
		return
	}
	p.last = pct
	n := done * barWidth / p.total
	fmt.Fprintf(p.w, "\rimporting [%s%s] %3d%% %d/%d", strings.Repeat("=", n), strings.Repeat(" ", barWidth-n), pct, done, p.total)
}

func (p *progress) done() {
	if p.w != nil && p.last >= 0 {
		fmt.Fprintln(p.w)
	}
}
