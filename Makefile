# Shortcuts for the README's commands; each target works on a fresh clone.
.PHONY: run test test-fast ui demo lint bench clean

run:        ## generate sample data and build the whole asset graph
	bash scripts/run.sh

test:       ## lint and run every test, as CI does
	bash scripts/test.sh

test-fast:  ## the inner loop: skip the slow end-to-end tests
	bash scripts/test.sh -m "not slow"

ui:         ## the Dagster UI on the project's instance (data/dagster_home)
	bash -c 'source scripts/bootstrap.sh runtime && fs-accelerator ui'

demo:       ## the UI with live sources: a sample (if none), then one simulated day every 20 s
	bash -c 'source scripts/bootstrap.sh runtime && fs-accelerator masking-key && \
	  { ls data/landing/customer/*.* >/dev/null 2>&1 || \
	    fs-accelerator generate --customers 300 --error-rate "$${ERROR_RATE:-0.003}"; } && \
	  fs-accelerator ui --simulate --error-rate "$${ERROR_RATE:-0.003}"'

lint:       ## ruff, and the import contracts of the layout (lint-imports)
	bash -c 'source scripts/bootstrap.sh dev && ruff check . && ruff format --check . && lint-imports'

bench:      ## benchmarks at 1M customers (minutes; prints rows/s, seconds, peak MB)
	bash -c 'source scripts/bootstrap.sh runtime && python bench/generate.py && python bench/pipeline.py'

clean:      ## remove the data folder (landing files, warehouse, Dagster instance)
	rm -rf data
