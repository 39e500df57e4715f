package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCommand runs the program with args in environ, and returns its
// output and error.
func runCommand(t *testing.T, environ []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(t.Context(), args, environ, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestHelpExitsZero: every way of asking for help prints it on stdout and
// is no error, so the process exits 0; nothing is started or opened.
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "orders serve [--dev] [flags]"},
		{[]string{"-h"}, "orders serve [--dev] [flags]"},
		{[]string{"--help"}, "orders serve [--dev] [flags]"},
		{[]string{"serve", "-h"}, "-auth-issuer string"},
		{[]string{"serve", "--help"}, "ORDERS_DATABASE_URL"},
		{[]string{"serve", "--dev", "-h"}, "usage: orders serve"},
		{[]string{"migrate", "-h"}, "usage: orders migrate [up|status] [flags]"},
		{[]string{"migrate", "status", "--help"}, "-database-url string"},
		{[]string{"token", "-h"}, "orders token mint --sub S"},
		{[]string{"token", "--help"}, "orders token inspect"},
		{[]string{"token", "help"}, "orders token inspect"},
		{[]string{"token", "inspect", "-h"}, "usage: orders token inspect [serve's flags] [TOKEN|-]"},
		{[]string{"token", "inspect", "--help"}, "-dev"},
		{[]string{"token", "mint", "-h"}, "-ttl duration"},
		{[]string{"token", "mint", "--help"}, "-dev-issuer-addr string"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			// An environment that would fail serve: help must not read it.
			stdout, stderr, err := runCommand(t, []string{"ORDERS_ADDR=nonsense"}, tt.args...)
			if err != nil {
				t.Fatalf("run %q = %v; want nil (exit status 0)", tt.args, err)
			}
			if !strings.Contains(stdout, tt.want) {
				t.Errorf("run %q printed on stdout:\n%s\nwant it to mention %q", tt.args, stdout, tt.want)
			}
			if stderr != "" {
				t.Errorf("run %q printed on stderr: %q; want nothing", tt.args, stderr)
			}
		})
	}
}

// TestCommandErrors: each mistake is an error that says what is wrong and
// what is allowed.
func TestCommandErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		args    []string
		want    string
	}{
		{"no command", nil, nil, "no command"},
		{"unknown command", nil, []string{"serv"}, `unknown command "serv"`},
		{"unknown flag", nil, []string{"serve", "--verify=false"}, `flag provided but not defined: -verify (run "orders serve -h" for the flags)`},
		{"token without a subcommand", nil, []string{"token"}, "token needs inspect or mint"},
		{"mint ttl 0", nil, []string{"token", "mint", "--sub", "a", "--ttl", "0"},
			"--ttl 0s: a token must live for some time; give one from 1s to 24h, such as 5m or 1h"},
		{"mint negative ttl", nil, []string{"token", "mint", "--sub", "a", "--ttl", "-5m"},
			"--ttl -5m0s: a token must live for some time; give one from 1s to 24h, such as 5m or 1h"},
		{"mint ttl under a second", nil, []string{"token", "mint", "--sub", "a", "--ttl", "500ms"},
			"--ttl 500ms: a token's exp counts whole seconds; give one from 1s to 24h, such as 5m or 1h"},
		{"mint ttl over the maximum", nil, []string{"token", "mint", "--sub", "a", "--ttl", "25h"},
			"--ttl 25h0m0s: the dev issuer mints tokens for at most 24h; give one from 1s to 24h, such as 5m or 1h"},
		{"mint ttl not a duration", nil, []string{"token", "mint", "--sub", "a", "--ttl", "soon"}, `invalid value "soon" for flag -ttl`},
		{"mint without a subject", nil, []string{"token", "mint"}, "token mint needs --sub and takes no arguments"},
		{"mint with a bad issuer address", []string{"ORDERS_DEV_ISSUER_ADDR=8001"}, []string{"token", "mint", "--sub", "a"},
			`ORDERS_DEV_ISSUER_ADDR: "8001" is not host:port`},
		{"inspect without settings", nil, []string{"token", "inspect", "a.b.c"},
			"ORDERS_AUTH_ISSUER is required: token inspect checks a token as serve would, with serve's settings (or add --dev for a token of a running serve --dev)\nORDERS_AUTH_AUDIENCE is required"},
		{"migrate with two actions", nil, []string{"migrate", "up", "status"}, `migrate takes one action, up or status; got ["up" "status"]`},
		{"migrate with an unknown action", nil, []string{"migrate", "down"}, `unknown migrate action "down": use up or status`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runCommand(t, tt.environ, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run %q = %v; want an error saying %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestUnknownEnvWarning: the commands without a log warn on stderr about an
// ORDERS_ variable that no setting reads, naming the nearest one; serve
// does so in its log (see tests/binary_test.go), or on stderr when its
// configuration is refused before the log exists.
func TestUnknownEnvWarning(t *testing.T) {
	t.Parallel()
	const want = "orders: warning: no setting reads ORDERS_ADRR; did you mean ORDERS_ADDR?\n"
	tests := []struct {
		name    string
		environ []string
		args    []string
		want    string
	}{
		{"migrate", []string{"ORDERS_ADRR=:1"}, []string{"migrate", "down"}, want},
		{"token mint", []string{"ORDERS_ADRR=:1"}, []string{"token", "mint"}, want},
		{"token inspect", []string{"ORDERS_ADRR=:1"}, []string{"token", "inspect", "x"}, want},
		{"serve refused", []string{"ORDERS_ADRR=:1"}, []string{"serve"}, want},
		{"the tests' variables", []string{"ORDERS_TEST_POSTGRES_URL=postgres://x"}, []string{"token", "mint"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, stderr, _ := runCommand(t, tt.environ, tt.args...)
			if stderr != tt.want {
				t.Errorf("run %q in %q wrote %q on stderr; want %q", tt.args, tt.environ, stderr, tt.want)
			}
		})
	}
}
