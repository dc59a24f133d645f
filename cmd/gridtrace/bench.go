package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridtrace/gridtrace/cmd/gridtrace/demodata"
	"github.com/gridtrace/gridtrace/grid"
)

const benchUsage = `usage: gridtrace bench import [--households 1000000] [--seed 1] [flags]
       gridtrace bench live [--clients 1000,5000] [--changes 100] [flags]   (bench live -h)
       gridtrace bench trace [--people 20000] [--days 14] [--pings 10000000] [flags]   (bench trace -h)
       gridtrace bench sampling [--households 50000] [--teams 5] [--stops 300] [flags]   (bench sampling -h)
       gridtrace bench http [--url http://127.0.0.1:8080] [--clients 100] [--duration 60s]   (bench http -h)

Generates synthetic households (deterministic for a seed, points uniform in
Shanghai's box 121.2–121.8 E, 30.9–31.5 N) into a temporary CSV, creates a throwaway
database on the server of --db (or the local cluster), loads the embedded Shanghai
streets into it, then times 'gridtrace import households' on the CSV and reports
rows/s and peak memory. The database is dropped afterwards unless --keep-db.
`

type benchFlags struct {
	households int
	seed       uint64
	batch      int
	keepDB     bool
	noAreas    bool
}

func (m *Main) runBench(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "live" {
		return m.runBenchLive(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "http" {
		return m.runBenchHTTP(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "trace" {
		return m.runBenchTrace(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "sampling" {
		return m.runBenchSampling(ctx, args[1:])
	}
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprint(m.Stderr, benchUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("bench import", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, benchUsage, "\nflags:\n"); fs.PrintDefaults() }
	var db dbFlags
	var bf benchFlags
	m.bindDB(fs, &db)
	fs.IntVar(&bf.households, "households", 1_000_000, "synthetic households to generate and import")
	fs.Uint64Var(&bf.seed, "seed", 1, "seed of the synthetic households")
	fs.IntVar(&bf.batch, "batch", grid.DefaultBatch, "rows per COPY batch")
	fs.BoolVar(&bf.keepDB, "keep-db", false, "keep the benchmark database")
	fs.BoolVar(&bf.noAreas, "no-areas", false, "do not load the streets first (measures the load without point-in-polygon)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if bf.households <= 0 || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	log := m.logger(db.logLevel)

	f, err := os.CreateTemp("", "gridtrace-bench-*.csv")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	path := f.Name()
	defer os.Remove(path)
	start := time.Now()
	gen, err := writeBenchHouseholds(f, bf.households, bf.seed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	st, _ := os.Stat(path)
	log.Info("bench: generated", "households", gen.households, "persons", gen.persons, "rows", gen.rows,
		"mb", st.Size()>>20, "took", time.Since(start).Round(time.Millisecond))

	store, cleanup, err := m.benchStore(ctx, log, db, bf.keepDB)
	if err != nil {
		return err
	}
	defer cleanup()
	if !bf.noAreas {
		rc, err := demodata.Streets()
		if err != nil {
			return err
		}
		rep, err := importAreas(ctx, store, rc, grid.AreaImportOptions{Level: grid.Street, NameField: "STREET", ParentField: "AREA"})
		rc.Close()
		if err != nil {
			return fmt.Errorf("bench: streets: %w", err)
		}
		log.Info("bench: streets loaded", "streets", rep.Inserted, "districts", rep.Derived)
	}

	runtime.GC()
	peak := watchHeap()
	start = time.Now()
	in, err := openInput(path)
	if err != nil {
		return err
	}
	rep, err := importHouseholds(ctx, store, in, bf.batch)
	in.Close()
	took := time.Since(start)
	heapPeak := peak()
	if err != nil {
		for _, e := range rep.Rejected {
			fmt.Fprintln(m.Stderr, e.Error())
		}
		return fmt.Errorf("bench: import: %w", err)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	secs := took.Seconds()
	fmt.Fprintf(m.Stdout, "bench import: %d households + %d persons (%d CSV rows, %d MB) in %s\n",
		rep.Inserted, rep.Persons, gen.rows, st.Size()>>20, took.Round(time.Millisecond))
	fmt.Fprintf(m.Stdout, "  %.0f households/s, %.0f CSV rows/s, %.0f table rows/s; %d outside every street\n",
		float64(rep.Inserted)/secs, float64(gen.rows)/secs, float64(rep.Inserted+rep.Persons)/secs, rep.Unassigned)
	fmt.Fprintf(m.Stdout, "  peak Go heap during import %.1f MB; process max RSS %.1f MB; Go runtime total %.1f MB\n",
		float64(heapPeak)/(1<<20), float64(ru.Maxrss)/1024, float64(totalMemory())/(1<<20))
	return nil
}

// benchStore creates a fresh database on the server of the given URL (or of the local
// cluster) so every run measures the same empty tables, and a cleanup dropping it.
func (m *Main) benchStore(ctx context.Context, log *slog.Logger, db dbFlags, keep bool) (*grid.Store, func(), error) {
	name := fmt.Sprintf("gt_bench_%d", time.Now().UnixNano())
	admin := db.url
	if admin == "" {
		u, err := db.cluster(log).Start(ctx, "postgres")
		if err != nil {
			return nil, nil, fmt.Errorf("bench: local cluster: %w", err)
		}
		admin = u
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: connect %s: %w", redact(admin), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, nil, fmt.Errorf("bench: create database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: database URL: %w", err)
	}
	u.Path = "/" + name
	bdb := db
	bdb.url = u.String()
	drop := func() {
		if keep {
			log.Info("bench: database kept", "url", redact(bdb.url))
			return
		}
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			log.Warn("bench: drop database", "err", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			log.Warn("bench: drop database", "err", err)
		}
	}
	pool, err := bdb.open(ctx, log)
	if err != nil {
		drop()
		return nil, nil, err
	}
	return grid.NewStore(pool), func() { pool.Close(); drop() }, nil
}

// watchHeap samples the live heap every 10 ms until the returned function is called,
// which returns the peak in bytes (runtime/metrics: no stop-the-world).
func watchHeap() func() uint64 {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		v := sample[0].Value.Uint64()
		mu.Lock()
		peak = max(peak, v)
		mu.Unlock()
	}
	go func() {
		defer close(stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		read()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// totalMemory is all memory the Go runtime has mapped.
func totalMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

type benchCounts struct{ households, persons, rows int }

// writeBenchHouseholds writes n synthetic households in the households CSV format:
// 0–5 persons each (mean about 2.6, China's 2020 census average), deterministic for
// a seed.
func writeBenchHouseholds(w io.Writer, n int, seed uint64) (benchCounts, error) {
	var c benchCounts
	rng := rand.New(rand.NewPCG(seed, 0x67726964)) // "grid"
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(grid.HouseholdCSVHeader + "\n")
	surnames := []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "朱", "胡", "沈"}
	given := []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "建华", "海燕"}
	roads := []string{"南京西路", "淮海中路", "长寿路", "曹杨路", "浦东大道", "张杨路", "虹桥路", "中山北路", "共和新路", "沪太路", "莘松路", "松汇路"}
	statuses := []string{"health_monitoring", "home_isolation", "close_contact", "recovered"}
	vulns := []grid.Vulnerability{grid.ElderlyAlone, grid.Disabled, grid.SeverelyIll, grid.LowIncome, grid.Bedridden}
	sizes := []int{0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5} // mean 2.5
	var line []byte
	for i := 0; i < n; i++ {
		lng := 121.2 + 0.6*rng.Float64()
		lat := 30.9 + 0.6*rng.Float64()
		key := "bench-" + strconv.Itoa(i)
		addr := roads[rng.IntN(len(roads))] + strconv.Itoa(1+rng.IntN(2000)) + "弄"
		building, unit := strconv.Itoa(1+rng.IntN(40)), strconv.Itoa(1+rng.IntN(6))
		size := sizes[rng.IntN(len(sizes))]
		c.households++
		for p := 0; p == 0 || p < size; p++ {
			line = line[:0]
			line = append(line, key...)
			line = append(line, ',')
			if p == 0 {
				line = strconv.AppendFloat(line, lng, 'f', 6, 64)
				line = append(line, ',')
				line = strconv.AppendFloat(line, lat, 'f', 6, 64)
				line = append(line, ',')
				line = append(line, addr...)
				line = append(line, ',')
				line = append(line, building...)
				line = append(line, ',')
				line = append(line, unit...)
			} else {
				line = append(line, ",,,,"...) // later rows inherit the household columns
			}
			line = append(line, ',')
			if size == 0 {
				line = append(line, ",,,,,,"...)
			} else {
				c.persons++
				birth := time.Date(1930+rng.IntN(90), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
				sex := "M"
				if rng.IntN(2) == 0 {
					sex = "F"
				}
				line = append(line, surnames[rng.IntN(len(surnames))]...)
				line = append(line, given[rng.IntN(len(given))]...)
				line = append(line, ',')
				line = append(line, "3101"...)
				line = append(line, fmt.Sprintf("%02d%s%04d", rng.IntN(20), birth.Format("20060102"), rng.IntN(10000))...)
				line = append(line, ',')
				line = append(line, "13"...)
				line = append(line, fmt.Sprintf("%09d", rng.IntN(1_000_000_000))...)
				line = append(line, ',')
				line = append(line, birth.Format(time.DateOnly)...)
				line = append(line, ',')
				line = append(line, sex...)
				line = append(line, ',')
				if rng.IntN(100) < 3 {
					line = append(line, statuses[rng.IntN(len(statuses))]...)
				}
				line = append(line, ',')
				if rng.IntN(100) < 5 {
					var vs []string
					for range 1 + rng.IntN(2) {
						vs = append(vs, string(vulns[rng.IntN(len(vulns))]))
					}
					line = append(line, strings.Join(vs, ";")...)
				}
			}
			line = append(line, '\n')
			if _, err := bw.Write(line); err != nil {
				return c, err
			}
			c.rows++
		}
	}
	return c, bw.Flush()
}
