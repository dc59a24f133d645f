// Command gridtrace is the grid-management and spatial-tracing server and its tools:
// serve, migrate, import, demo, route, trace, bench, pg. Run `gridtrace help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gridtrace:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage")

const usage = `gridtrace: GIS grid management and spatial tracing for epidemic control

usage: gridtrace <command> [flags]

commands:
  serve     run the HTTP server (API, tiles, web app)
  migrate   apply database migrations
  import    import areas, households or cases from files
  demo      load Shanghai demo data into a local PostGIS and serve it
  pg        start or stop the throwaway local PostGIS cluster (pg start|stop|url)
  trace     offline flow tracing from files: trace contacts|companions|stays
  bench     end-to-end benchmarks (bench import --households 1000000)
  route     door-to-door routing tools: route tsplib FILE, route bench DIR

Run 'gridtrace <command> -h' for a command's flags.
`

// Run dispatches a sub-command.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return m.runServe(ctx, rest)
	case "migrate":
		return m.runMigrate(ctx, rest)
	case "demo":
		return m.runDemo(ctx, rest)
	case "import":
		return m.runImport(ctx, rest)
	case "bench":
		return m.runBench(ctx, rest)
	case "pg":
		return m.runPG(ctx, rest)
	case "trace":
		return m.runTrace(ctx, rest)
	case "route":
		return m.runRoute(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	}
	fmt.Fprintf(m.Stderr, "unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

// Main carries the process's outputs and environment, so tests run commands in process.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}
