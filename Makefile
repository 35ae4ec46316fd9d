# Everyday commands; each one is a single line a researcher could type by hand.
PYTHON ?= python
SWEEP ?= outputs
CIFAR_ROOT ?= data
SLURM_ROOT ?= /tmp/slurm-bench

.PHONY: install demo demo-lm test tables report findings sparsity plan bench clean slurm-up slurm-down

install:  ## install the suite and its test tools into the current Python
	$(PYTHON) -m pip install -e ".[test,lm]"

demo:  ## FT/LRW/SLR/CLR after L1 pruning, T = 3 and 6 epochs, 3 seeds, on synthetic data; the table and figures (docs/speed.md: the demo's budget)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=demo seed.retrain=0,1,2 budget.epochs=3,6 schedule=ft,lrw,slr,clr
	$(PYTHON) -m benchmark.report.tables outputs/demo --out results/demo

demo-lm:  ## a small causal LM on the built-in Markov corpus, Wanda 50%, FT/LRW/SLR/CLR under all and biases_norms, 3 seeds; the table
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=demo_lm seed.retrain=0,1,2 schedule=ft,lrw,slr,clr retrain.params=all,biases_norms
	$(PYTHON) -m benchmark.report.tables outputs/demo_lm --out results/demo_lm --no-figures

test:  ## the CPU test suite (the command CI runs)
	$(PYTHON) -m pytest -q tests

tables:  ## every record under $(SWEEP) into results/: comparison and published tables (md, csv, tex), figures (png, pdf)
	$(PYTHON) -m benchmark.report.tables $(SWEEP) --out results

# report and findings read the findings preset's sweep folder unless SWEEP=<folder> is given
report findings: SWEEP = outputs/findings_small
report:  ## the three claims tested on the records under $(SWEEP), one self-contained page: results/report/index.html
	$(PYTHON) -m benchmark.report.findings $(SWEEP) --out results/report

findings:  ## run the findings_small preset on real CIFAR-10 in $(CIFAR_ROOT), then its tables and report (results/findings/)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=findings_small dataset.root=$(CIFAR_ROOT)
	$(PYTHON) -m benchmark.report.tables $(SWEEP) --out results/findings
	$(PYTHON) -m benchmark.report.findings $(SWEEP) --out results/findings

sparsity:  ## gradual_vs_oneshot_small and allocation_ablation_small on real CIFAR-10 in $(CIFAR_ROOT), their tables (results/sparsity/)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=gradual_vs_oneshot_small dataset.root=$(CIFAR_ROOT)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=allocation_ablation_small dataset.root=$(CIFAR_ROOT)
	$(PYTHON) -m benchmark.report.tables outputs/gradual_vs_oneshot_small --out results/sparsity/gradual_vs_oneshot
	$(PYTHON) -m benchmark.report.tables outputs/allocation_ablation_small --out results/sparsity/allocation_ablation

bench:  ## training images/s: the suite's pipeline vs the reference DataLoader, into results/bench.{md,json}
	$(PYTHON) -m benchmark.speed.bench --out results

plan:  ## what the default cell would compute, without training
	$(PYTHON) benchmark/run.py mode=plan

clean:  ## remove run folders and the artefact cache (results/ is kept)
	rm -rf outputs cache multirun

slurm-up:  ## a single-node Slurm cluster under $(SLURM_ROOT) for tests/test_slurm.py (then export SLURM_CONF as printed)
	ROOT=$(SLURM_ROOT) bash scripts/slurm_up.sh

slurm-down:  ## stop the cluster that slurm-up started
	ROOT=$(SLURM_ROOT) bash scripts/slurm_down.sh
