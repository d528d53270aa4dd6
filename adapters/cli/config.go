package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vex-ioc/vex/core/config"
	"github.com/vex-ioc/vex/core/secret"
)

// EnvConfig names the environment variable that selects the config file
// when -c is not given.
const EnvConfig = "VEX_CONFIG"

// addGlobalFlags registers the flags every subcommand shares.
func (a *app) addGlobalFlags(root *cobra.Command) {
	fl := root.PersistentFlags()
	fl.StringVarP(&a.configPath, "config", "c", "", "config `FILE` (default $VEX_CONFIG, then ~/.vex/config.toml)")
	fl.StringVarP(&a.apiKeyFlag, "api-key", "k", "", "VirusTotal API `KEY`; it lands in shell history, so prefer VT_API_KEY or 'vex config --set-api-key'")
	fl.BoolVarP(&a.quiet, "quiet", "q", false, "no banner or progress bar on stderr")
}

// configFile returns the config file to use and whether the user named it
// (with -c or $VEX_CONFIG). A named file must exist; the default one may be
// missing.
func (a *app) configFile() (path string, named bool, err error) {
	if a.configPath != "" {
		return a.configPath, true, nil
	}
	if p := a.env.Getenv(EnvConfig); p != "" {
		return p, true, nil
	}
	if a.env.Home == "" {
		return "", false, &ExitError{
			Code: ExitConfig,
			Err:  errors.New("no home directory for the default config file ~/.vex/config.toml"),
			Hint: "pass -c FILE or set " + EnvConfig,
		}
	}
	return config.DefaultPath(a.env.Home), false, nil
}

// loadConfig reads the config that every command uses: -c, then $VEX_CONFIG,
// then ~/.vex/config.toml, where a missing default file means the built-in
// defaults. VEX_VT_BASE_URL is applied on top. Errors are *ExitError with
// exit code 78 and a hint.
func (a *app) loadConfig() (*config.Config, error) {
	path, named, err := a.configFile()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	switch {
	case err == nil:
		cfg.ExpandHome(a.env.Home)
	case errors.Is(err, fs.ErrNotExist) && !named:
		cfg = config.DefaultFor(a.env.Home)
	default:
		return nil, configErr(err, path)
	}
	if err := cfg.ApplyEnv(a.env.Getenv); err != nil {
		return nil, configErr(err, path)
	}
	if abs, err := filepath.Abs(cfg.Cache.DataDir); err == nil {
		cfg.Cache.DataDir = abs
	}
	return cfg, nil
}

// configErr turns a config error into exit code 78 with a hint for the
// cases a user can fix in one step.
func configErr(err error, path string) error {
	ee := &ExitError{Code: ExitConfig, Err: err}
	switch {
	case errors.Is(err, config.ErrInsecurePermissions):
		ee.Hint = "run: chmod 600 " + path
	case errors.Is(err, fs.ErrNotExist):
		ee.Hint = "check the -c or " + EnvConfig + " path, or create the file with 'vex config --set-api-key'"
	case errors.Is(err, config.ErrUnknownKey):
		ee.Hint = "valid keys: " + strings.Join(config.SettableKeys(), ", ") + ", api.key, serve.redis_url, serve.tokens"
	}
	return ee
}

// askForKey is the NoOptDefVal of --set-api-key: the flag was given without
// a value or as --set-api-key=-, so the key is read from stdin. No
// VirusTotal key is "-", and help shows it as KEY[="-"], the usual
// spelling of stdin.
const askForKey = "-"

type configFlags struct {
	setAPIKey string
	// keyGiven is true when --set-api-key appeared at all, even with an
	// empty value such as "$KEY" of an unset variable.
	keyGiven bool
	ctx      context.Context
	show     bool
	path     bool
	set      []string
}

func (a *app) newConfigCmd() *cobra.Command {
	var f configFlags
	cmd := &cobra.Command{
		Use:   "config [--set-api-key [KEY]] [--show] [--path] [--set key=value]...",
		Short: "Show or change the vex configuration",
		Long: `Show or change the vex configuration file (default ~/.vex/config.toml).

--set-api-key without a value reads the key from stdin: without echo when
stdin is a terminal, else the first line. The file is written with mode
0600 in a directory with mode 0700, keeping its other settings and
comments. vex refuses to read a config file that contains a key and is
readable by group or others.

With no flags, config prints the effective configuration with secrets
masked, as --show does.

Keys for --set:
` + wrapWords(strings.Join(config.SettableKeys(), ", ")+".", 72, "  ") + `
Durations are written like 90s, 20m or 24h.`,
		Example: `  vex config --set-api-key            # prompts for the key
  pass show vt | vex config --set-api-key
  vex config --set api.tier=premium --set api.per_minute=300 --set api.per_day=50000
  vex config --show
  vex -c ./vex.toml config --path`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.keyGiven = cmd.Flags().Changed("set-api-key")
			f.ctx = cmd.Context()
			return a.runConfig(f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.setAPIKey, "set-api-key", "", "store the VirusTotal API `KEY` in the config file (read from stdin when omitted)")
	fl.Lookup("set-api-key").NoOptDefVal = askForKey
	fl.BoolVar(&f.show, "show", false, "print the effective configuration with secrets masked")
	fl.BoolVar(&f.path, "path", false, "print the config file path")
	fl.StringArrayVar(&f.set, "set", nil, "set a config `key=value`, such as api.tier=premium (repeatable)")
	return cmd
}

func (a *app) runConfig(f configFlags, args []string) error {
	// `--set-api-key KEY` with a space parses KEY as an argument, because
	// the flag's value is optional.
	if len(args) == 1 {
		if f.setAPIKey != askForKey {
			return usageErr("unexpected argument %q: config takes flags only", redactArg(args[0]))
		}
		f.setAPIKey = args[0]
	}
	path, _, err := a.configFile()
	if err != nil {
		return err
	}

	if len(f.set) > 0 {
		if err := a.setValues(path, f.set); err != nil {
			return err
		}
	}
	if f.keyGiven || f.setAPIKey != "" {
		if err := a.setAPIKey(f.ctx, path, f.setAPIKey); err != nil {
			return err
		}
	}
	if f.path {
		if _, err := fmt.Fprintln(a.io.Out, path); err != nil {
			return err
		}
	}
	if f.show || (!f.path && !f.keyGiven && f.setAPIKey == "" && len(f.set) == 0) {
		return a.showConfig()
	}
	return nil
}

// wrapWords breaks text into lines of at most width bytes, each starting
// with indent.
func wrapWords(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	b.WriteString(line)
	return b.String()
}

// redactArg shortens an unexpected argument for an error message, since it
// may be a key typed in the wrong place.
func redactArg(s string) string {
	return secret.New(s).Masked()
}

func (a *app) setValues(path string, raw []string) error {
	settings := make([]config.Setting, 0, len(raw))
	for _, r := range raw {
		s, err := config.ParseSetting(r)
		if err != nil {
			return usageErr("--set: %v", err)
		}
		settings = append(settings, s)
	}
	if err := config.SetValues(path, settings); err != nil {
		return configErr(err, path)
	}
	for _, s := range settings {
		fmt.Fprintf(a.io.Err, "vex: set %s in %s\n", s.Key, path)
	}
	return nil
}

func (a *app) setAPIKey(ctx context.Context, path, value string) error {
	if value == askForKey {
		v, err := a.readKey(ctx)
		if err != nil {
			return err
		}
		value = v
	} else {
		fmt.Fprintln(a.io.Err, "vex: warning: a key given on the command line is saved in your shell history; run 'vex config --set-api-key' without a value to be prompted instead")
	}
	key := secret.New(strings.TrimSpace(value))
	if key.IsZero() {
		return usageErr("no API key given: paste the key when prompted or pipe it on stdin")
	}
	if err := config.SetAPIKey(path, key); err != nil {
		return configErr(err, path)
	}
	fmt.Fprintf(a.io.Err, "vex: API key %s saved to %s\n", key.Masked(), path)
	if a.env.Getenv(config.EnvAPIKey) != "" {
		fmt.Fprintf(a.io.Err, "vex: note: %s is set in this environment and takes priority over the file\n", config.EnvAPIKey)
	}
	return nil
}

// readKey reads the API key from stdin: without echo, after a prompt on
// stderr, when stdin is a terminal, else the first line. Ctrl-C at the
// prompt restores the terminal's echo and returns an error.
func (a *app) readKey(ctx context.Context) (string, error) {
	if a.io.InTTY {
		if fd, ok := a.io.In.(interface{ Fd() uintptr }); ok {
			return a.promptKey(ctx, int(fd.Fd()))
		}
	}
	// A key is 64 characters; the bound keeps a wrong pipe (a binary file)
	// from being read whole.
	r := bufio.NewReader(io.LimitReader(a.io.In, 4096))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the API key from stdin: %w", err)
	}
	return line, nil
}

func (a *app) promptKey(ctx context.Context, fd int) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read the API key from the terminal: %w", err)
	}
	fmt.Fprint(a.io.Err, "VirusTotal API key (input hidden): ")
	type answer struct {
		key []byte
		err error
	}
	done := make(chan answer, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- answer{b, err}
	}()
	select {
	case got := <-done:
		fmt.Fprintln(a.io.Err)
		if got.err != nil {
			return "", fmt.Errorf("read the API key from the terminal: %w", got.err)
		}
		return string(got.key), nil
	case <-ctx.Done():
		// ReadPassword turned echo off and stays blocked in read; put the
		// terminal back before the process exits.
		term.Restore(fd, state)
		fmt.Fprintln(a.io.Err)
		return "", &ExitError{Code: ExitUsage, Err: errors.New("interrupted: no API key saved")}
	}
}

func (a *app) showConfig() error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	// Show the key in effect, which the environment or -k may override.
	key, source, err := config.ResolveAPIKey(a.apiKeyFlag, a.env.Getenv, cfg)
	if err == nil {
		cfg.API.Key = key
	}
	out := config.Show(cfg)
	if source != config.SourceNone {
		out = fmt.Sprintf("# api.key in effect comes from: %s\n", source) + out
	}
	_, err = io.WriteString(a.io.Out, out)
	return err
}
