# Everyday commands; each one is a single line a researcher could type by hand.
PYTHON ?= python
SWEEP ?= outputs
CIFAR_ROOT ?= data
SLURM_ROOT ?= /tmp/slurm-bench

.PHONY: install demo demo-lm test test-fast tables report findings findings-long findings-converged sparsity plan bench bench-precision clean slurm-up slurm-down

install:  ## install the suite and its test tools into the current Python
	$(PYTHON) -m pip install -e ".[test,lm]"

demo:  ## FT/LRW/SLR/CLR after L1 pruning, T = 3 and 6 epochs, 3 seeds, on synthetic data; the table and figures (docs/speed.md: the demo's budget)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=demo seed.retrain=0,1,2 budget.epochs=3,6 schedule=ft,lrw,slr,clr
	$(PYTHON) -m benchmark.report.tables outputs/demo --out results/demo

demo-lm:  ## a small causal LM on the built-in Markov corpus, Wanda 50%, FT/LRW/SLR/CLR under all and biases_norms, and block reconstruction, 3 seeds; the table
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=demo_lm seed.retrain=0,1,2 schedule=ft,lrw,slr,clr retrain.params=all,biases_norms
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=demo_lm seed.retrain=0,1,2 schedule=ft,lrw,slr,clr retrain.objective=reconstruct hydra.sweep.dir=outputs/demo_lm/reconstruct
	$(PYTHON) -m benchmark.report.tables outputs/demo_lm --out results/demo_lm --no-figures

test:  ## the whole CPU test suite (the command CI runs)
	$(PYTHON) -m pytest -q tests

# The tiers and their markers: tests/README.md.
HEAVY = cell or sweep or subprocess or slurm or cifar or compile
test-fast:  ## every test that needs no whole cell, sweep, subprocess, Slurm, real data or compiler: the loop while editing
	$(PYTHON) -m pytest -q -m "not ($(HEAVY))" tests

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

findings-long:  ## run findings_long (baselines trained 4x findings_small's epochs, each record with its convergence verdict) on real CIFAR-10 in $(CIFAR_ROOT), its tables and report (results/findings_long/)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=findings_long dataset.root=$(CIFAR_ROOT)
	$(PYTHON) -m benchmark.report.tables outputs/findings_long --out results/findings_long
	$(PYTHON) -m benchmark.report.findings outputs/findings_long --out results/findings_long

findings-converged:  ## run findings_converged (the paper's E = 160 recipe on 1,000 images: every baseline converged by the suite's rule) on real CIFAR-10 in $(CIFAR_ROOT), its tables and report (results/findings_converged/)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=findings_converged dataset.root=$(CIFAR_ROOT)
	$(PYTHON) -m benchmark.report.tables outputs/findings_converged --out results/findings_converged
	$(PYTHON) -m benchmark.report.findings outputs/findings_converged --out results/findings_converged

sparsity:  ## gradual_vs_oneshot_small and allocation_ablation_small on real CIFAR-10 in $(CIFAR_ROOT), their tables (results/sparsity/)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=gradual_vs_oneshot_small dataset.root=$(CIFAR_ROOT)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=allocation_ablation_small dataset.root=$(CIFAR_ROOT)
	$(PYTHON) -m benchmark.report.tables outputs/gradual_vs_oneshot_small --out results/sparsity/gradual_vs_oneshot
	$(PYTHON) -m benchmark.report.tables outputs/allocation_ablation_small --out results/sparsity/allocation_ablation

bench:  ## training images/s: the suite's pipeline vs the reference DataLoader, into results/bench.{md,json}
	$(PYTHON) -m benchmark.speed.bench --out results

bench-precision:  ## fp32 against bf16 autocast, alternating in one process, for the scale models (results/bench_precision/); then the time to a test accuracy on real CIFAR-10 in $(CIFAR_ROOT) at each precision
	$(PYTHON) -m benchmark.speed.bench --models resnet20,resnet56,vgg16 --pack 0 --demo-seeds "" --out results/bench_precision
	$(PYTHON) -m benchmark.speed.time_to_accuracy --root $(CIFAR_ROOT) --out results/bench_precision

plan:  ## what the default cell would compute, without training
	$(PYTHON) benchmark/run.py mode=plan

clean:  ## remove run folders and the artefact cache (results/ is kept)
	rm -rf outputs cache multirun

slurm-up:  ## a single-node Slurm cluster under $(SLURM_ROOT) for tests/test_slurm.py (then export SLURM_CONF as printed)
	ROOT=$(SLURM_ROOT) bash scripts/slurm_up.sh

slurm-down:  ## stop the cluster that slurm-up started
	ROOT=$(SLURM_ROOT) bash scripts/slurm_down.sh

# The leaderboard (docs/leaderboard.md): nine criteria at one FLOPs target x FT/CLR/LLR x 3 seeds, and entering yours.
.PHONY: leaderboard leaderboard-entry
LEADERBOARD_RECORDS ?= results/leaderboard/records
leaderboard: SWEEP = outputs/leaderboard_small
leaderboard:  ## run the leaderboard_small preset on real CIFAR-10 in $(CIFAR_ROOT), then its tables and page (results/leaderboard/)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) benchmark/run.py -m +experiment=leaderboard_small dataset.root=$(CIFAR_ROOT)
	$(PYTHON) -m benchmark.report.leaderboard $(SWEEP) --out results/leaderboard

leaderboard-entry:  ## enter ENTRY="pruner=..." into the shipped leaderboard: checks, trains only its cells, ranks it (results/leaderboard_entry/)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PYTHON) -m benchmark.launch.submit $(ENTRY) dataset.root=$(CIFAR_ROOT) --records $(LEADERBOARD_RECORDS) --out results/leaderboard_entry
