package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestDatabaseTimeouts: the database's timeouts have their defaults, are
// read from the environment and the flags, and a negative one is refused;
// migrate reads the start timeout as serve does.
func TestDatabaseTimeouts(t *testing.T) {
	t.Parallel()
	hosted := map[string]string{"ORDERS_AUTH_ISSUER": "https://i.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	tests := []struct {
		name                     string
		env                      map[string]string
		args                     []string
		statement, acquire, wait time.Duration
		wantErr                  string
	}{
		{"defaults", hosted, nil, 5 * time.Second, 2 * time.Second, time.Minute, ""},
		{"environment", merge(hosted, map[string]string{
			"ORDERS_DATABASE_STATEMENT_TIMEOUT": "0", "ORDERS_DATABASE_ACQUIRE_TIMEOUT": "500ms", "ORDERS_DATABASE_START_TIMEOUT": "5m",
		}), nil, 0, 500 * time.Millisecond, 5 * time.Minute, ""},
		{"flags", hosted, []string{"--database-statement-timeout", "30s", "--database-acquire-timeout", "1s", "--database-start-timeout", "0s"},
			30 * time.Second, time.Second, 0, ""},
		{"negative", merge(hosted, map[string]string{"ORDERS_DATABASE_START_TIMEOUT": "-1s"}), nil, 0, 0, 0,
			`ORDERS_DATABASE_START_TIMEOUT: "-1s" is out of range: allowed is 0s or more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.pool.StatementTimeout != tt.statement || c.pool.AcquireTimeout != tt.acquire || c.databaseStartTimeout != tt.wait {
				t.Errorf("statement %v, acquire %v, start %v; want %v, %v, %v",
					c.pool.StatementTimeout, c.pool.AcquireTimeout, c.databaseStartTimeout, tt.statement, tt.acquire, tt.wait)
			}
			var startArgs []string
			for i := 0; i+1 < len(tt.args); i += 2 {
				if tt.args[i] == "--database-start-timeout" {
					startArgs = tt.args[i : i+2]
				}
			}
			_, m, err := migrateArgs(startArgs, env(tt.env), io.Discard)
			if err != nil || m.databaseStartTimeout != tt.wait {
				t.Errorf("migrate: start timeout %v, %v; want %v", m.databaseStartTimeout, err, tt.wait)
			}
		})
	}
}
