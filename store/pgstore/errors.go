package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SQLSTATE codes the store acts on.
const (
	codeUniqueViolation   = "23505"
	codeUndefinedTable    = "42P01"
	codeInvalidPassword   = "28P01"
	codeInvalidAuth       = "28000"
	codeInvalidCatalog    = "3D000"
	codeInsufficientPrivs = "42501"
	codeTooManyConns      = "53300"
	codeCannotConnectNow  = "57P03"
	codeDeadlock          = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// connectError explains a failure to reach or log in to the server: what
// failed, where (never the password), and what to check. The cause stays
// matchable with errors.As.
func connectError(op string, pc *pgxpool.Config, err error) error {
	where := describe(pc)
	hp := hostPort(pc.ConnConfig.Host, pc.ConnConfig.Port)
	var advice string
	var netErr net.Error
	var dnsErr *net.DNSError
	switch code := pgCode(err); {
	case code == codeInvalidPassword || code == codeInvalidAuth:
		advice = fmt.Sprintf("the server refused user %q: check the user name and password in the DSN, and the server's pg_hba.conf", pc.ConnConfig.User)
	case code == codeInvalidCatalog:
		advice = fmt.Sprintf("database %q does not exist on %s: create it (createdb %s) or fix the DSN", pc.ConnConfig.Database, hp, pc.ConnConfig.Database)
	case code == codeTooManyConns:
		advice = "the server has no connection slots left: lower pool_max_conns or raise the server's max_connections"
	case code == codeCannotConnectNow:
		advice = "the server is starting up or shutting down: try again shortly"
	case errors.Is(err, syscall.ECONNREFUSED):
		advice = fmt.Sprintf("nothing accepts connections on %s: check that PostgreSQL runs there and listens on that address and port (listen_addresses, port)", hp)
	case errors.As(err, &dnsErr):
		advice = fmt.Sprintf("the host name %q does not resolve: check the host in the DSN", pc.ConnConfig.Host)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		advice = fmt.Sprintf("no answer from %s in time: check the host and port, and that no firewall drops the connection", hp)
	default:
		advice = fmt.Sprintf("cannot connect to %s: check that the server runs and the DSN is right", hp)
	}
	return fmt.Errorf("pgstore: %s %s: %s: %w", op, where, advice, err)
}

// isConnectFailure reports whether err means no connection could be made
// (as opposed to an error of a statement).
func isConnectFailure(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
