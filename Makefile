# gridtrace: the two commands a new machine needs are `make demo` and `make test`.
# Both install what is missing (PostGIS, Chromium, the npm-pinned web modules).

GO       ?= go
BIN      := bin/gridtrace
VENDOR   := web/vendor/maplibre-gl.mjs web/vendor/maplibre-gl-shared.mjs \
            web/vendor/maplibre-gl-worker.mjs web/vendor/maplibre-gl.css \
            web/vendor/terra-draw.modern.js web/vendor/terra-draw-maplibre-gl-adapter.modern.js

.PHONY: all deps vendor build demo test bench fmt clean

all: build

## deps: install PostGIS and Chromium from Debian packages when missing
deps:
	@scripts/ensure-deps.sh

## vendor: install the pinned npm modules and copy their bundles into web/vendor
vendor: $(VENDOR)

$(VENDOR) &: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cp web/node_modules/maplibre-gl/dist/maplibre-gl.mjs \
	   web/node_modules/maplibre-gl/dist/maplibre-gl-shared.mjs \
	   web/node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs \
	   web/node_modules/maplibre-gl/dist/maplibre-gl.css \
	   web/node_modules/terra-draw/dist/terra-draw.modern.js \
	   web/node_modules/terra-draw-maplibre-gl-adapter/dist/terra-draw-maplibre-gl-adapter.modern.js \
	   web/vendor/

## build: the gridtrace binary with the web app embedded
build: vendor
	$(GO) build -o $(BIN) ./cmd/gridtrace

## demo: load the Shanghai demo into a throwaway PostGIS (unless DATABASE_URL is set) and serve on :8080
demo: deps build
	./$(BIN) demo

## test: every test (unit, PostGIS-backed, browser) against a throwaway cluster
test: deps build
	@scripts/test.sh

## bench: the Go benchmarks
bench: deps build
	@BENCH=1 scripts/test.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	-./$(BIN) pg stop --data-dir .data/test --local-port 54330
	-./$(BIN) pg stop --data-dir .data
	rm -rf bin .data web/node_modules $(VENDOR)
