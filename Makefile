# Two commands: `make run` starts the assistant, `make test` runs every test.
# Each sets up what it needs first: .venv from requirements.txt, the database, a trained model.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.txt | cut -c1-12)

# The model is named after a fingerprint of everything training reads, so it is retrained
# only when one of these changes (not on every run, and not merely because a file was touched).
TRAINING_DATA := data/nlu data/rules data/stories
# data/crisis/corpus trains the crisis component's n-gram net (bot/nlu/crisis_net.py) inside the model.
TRAINING_INPUTS := config.yml domain.yml $(shell find $(TRAINING_DATA) data/crisis/corpus -name '*.yml' 2>/dev/null | sort)
FINGERPRINT := $(shell cat $(TRAINING_INPUTS) 2>/dev/null | sha256sum | cut -c1-16)
MODEL := models/$(FINGERPRINT).tar.gz

export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# No telemetry or error reports leave this machine (the assistant handles sensitive conversations).
export RASA_TELEMETRY_ENABLED := false
# endpoints.yml names the action server by these (Rasa refuses an unset variable).
export ACTIONS_PORT ?= 5055
ACTION_TOKEN = ACTION_SERVER_TOKEN="$${ACTION_SERVER_TOKEN:-$$($(PY) -m bot.config secret action-server-token)}"

.PHONY: setup db model run run-prod stop-prod test test-unit test-e2e test-stories validate crisis-eval crisis-eval-pipeline crisis-report languages-net-points cross-validate nlu-heldout nlu-replies nlu-report conversation-report bench bench-crisis bench-load bench-load-prod soak bench-profile bench-nlu bench-language-id i18n coverage directory-review web clean

setup: $(STAMP)

# pip is retried once without its cache: a download cut short or corrupted on the way fails the hash check.
$(STAMP): requirements.txt
	@test -x $(PY) || $$(scripts/python310.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==24.0
	$(PY) -m pip install --quiet --no-deps -r requirements.txt \
		|| $(PY) -m pip install --quiet --no-deps --no-cache-dir -r requirements.txt
	$(PY) -m pip check
	@rm -f $(VENV)/.installed-* && touch $@

db: setup
	$(PY) -m bot.directory init

model: $(MODEL)

$(MODEL): | setup
	@echo "Training inputs changed (fingerprint $(FINGERPRINT)): training a model…"
	$(RASA) train --data $(TRAINING_DATA) --fixed-model-name $(FINGERPRINT) --out models --quiet

run: db model
	MODEL=$(MODEL) scripts/run.sh

# The production profile on this machine (scripts/prod.py): PostgreSQL, Redis, two Rasa instances and two
# action servers behind nginx, all on loopback, in the background until `make stop-prod`.
run-prod: setup model
	MODEL=$(MODEL) $(PY) scripts/prod.py start

stop-prod: setup
	$(PY) scripts/prod.py stop

validate: setup
	$(PY) scripts/validate_data.py

test-unit: db
	$(PY) -m pytest -q -m "not e2e"

test-e2e: model web/node_modules
	MODEL=$(MODEL) $(PY) -m pytest -q -m e2e

# Crisis gates: the lexicon alone on data/crisis/corpus/lexicon_set.yml (recall 1.00, <= 3% false alarms), then
# the whole trained pipeline's tiers (scripts/crisis_pipeline_eval.py says which gates).
crisis-eval: setup
	$(PY) -m bot.crisis evaluate

crisis-eval-pipeline: model
	$(PY) scripts/crisis_pipeline_eval.py $(MODEL)

# Not in `make test`: leave-one-batch-out figures for unseen wording, and the frozen blind batch (report only).
crisis-report: model
	@mkdir -p results
	$(PY) scripts/crisis_tiers_eval.py --blind | tee results/crisis-tiers.md
	$(PY) scripts/crisis_pipeline_eval.py $(MODEL) --blind --report results/crisis-pipeline.md
	$(PY) -m bot.language evaluate --pipeline | tee results/crisis-languages.md

# Not in `make test`: the languages net's operating points with each read batch left out in turn (H59; nine nets).
languages-net-points: setup
	@mkdir -p results
	$(PY) scripts/languages_net_points.py | tee results/languages-net-points.md

test-stories: model
	$(ACTION_TOKEN) $(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/core

test: validate test-unit crisis-eval test-stories crisis-eval-pipeline test-e2e

# NLU quality (not in `make test`: 5-fold cross-validation trains five models). docs/nlu-evaluation.md.
NLU_FOLDS := 5
cross-validate: setup
	$(RASA) test nlu --cross-validation --folds $(NLU_FOLDS) --config config.yml --nlu data/nlu --out results/nlu-cv

nlu-heldout: model
	$(RASA) test nlu --model $(MODEL) --nlu tests/data/nlu_heldout.yml --out results/nlu-heldout

# Whole conversations nobody in the project wrote (tests/data/conversations_unseen*.yml, seven writers): report only.
conversation-report: model db
	MODEL=$(MODEL) $(PY) scripts/conversation_eval.py
	MODEL=$(MODEL) $(PY) scripts/conversation_eval.py --scenarios tests/data/conversations_unseen_2.yml --out docs/conversation-evaluation-2.md
	MODEL=$(MODEL) $(PY) scripts/conversation_eval.py --scenarios tests/data/conversations_unseen_3.yml --out docs/conversation-evaluation-3.md
	MODEL=$(MODEL) $(PY) scripts/conversation_eval.py --scenarios tests/data/conversations_unseen_4.yml --out docs/conversation-evaluation-4.md
	MODEL=$(MODEL) $(PY) scripts/conversation_eval.py --scenarios tests/data/conversations_unseen_5.yml --out docs/conversation-evaluation-5.md
	MODEL=$(MODEL) $(PY) scripts/conversation_eval.py --scenarios tests/data/conversations_unseen_6.yml --out docs/conversation-evaluation-6.md
	MODEL=$(MODEL) $(PY) scripts/conversation_eval.py --scenarios tests/data/conversations_unseen_7.yml --out docs/conversation-evaluation-7.md

# Whole-message replies to yes/no questions, by an independent writer, read by the whole pipeline.
nlu-replies: model
	$(PY) scripts/replies_eval.py $(MODEL) results/nlu-replies

nlu-report: cross-validate nlu-heldout nlu-replies
	$(PY) scripts/nlu_report.py results/nlu-cv results/nlu-heldout results/nlu-replies docs/nlu-evaluation.md $(NLU_FOLDS)

bench: db
	$(PY) -m bench.directory_search

# Crisis detection per message (every language's lexicon and the English one), reported not asserted.
bench-crisis: setup
	$(PY) -m bench.crisis_detection

# Load over REST (1, 10, 50 concurrent conversations; one 200-turn conversation; RSS per process) for the assistant
# and, in the same run, a bare `rasa init` bot (bench/bare/, trained here if needed): bench/load.md.
bench-load: model
	MODEL=$(MODEL) $(PY) -m bench.run_load load

# The same load through the production profile (two instances behind nginx, PostgreSQL, Redis).
bench-load-prod: model
	MODEL=$(MODEL) $(PY) -m bench.run_load load-prod --out bench/load-prod.md

# Thousands of turns against the assistant on loopback: fails on any error, or a process whose memory grows >10%.
soak: model
	MODEL=$(MODEL) $(PY) -m bench.run_load soak

# The NLU pipeline's time per message, component by component (the held-out messages; add models to compare).
bench-nlu: model
	$(PY) -m bench.nlu_components $(MODEL)

# Where a turn's time goes at turn 1 and turn 200 (cProfile): bench/profile.md.
bench-profile: model
	MODEL=$(MODEL) $(PY) -m bench.profile_turn

# The chat widget: web/dist/ is committed (make run needs no Node); this rebuilds it from web/src with the
# versions locked in web/package-lock.json. The browser tests use axe-core from web/node_modules.
web/node_modules: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web: web/node_modules
	cd web && npm run build

# docs/coverage.md from the seed directory (a test fails when it is stale).
coverage: setup
	$(PY) -m bot.directory coverage --markdown data/directory/services.yml > docs/coverage.md

# Records due for re-verification (checked over a year ago, or an undated or two-year-old source).
directory-review: setup
	$(PY) -m bot.directory review data/directory/services.yml

# Writes the translated replies (data/i18n/) into domain.yml as conditional response variations.
i18n: setup
	$(PY) scripts/i18n_domain.py

# Compares lingua with langid.py and langdetect (installed only for this; not used at run time).
bench-language-id: setup
	$(PY) -m pip install -q --no-deps -r requirements-bench.txt
	$(PY) -m bench.language_id

clean:
	rm -rf models results var .cache
