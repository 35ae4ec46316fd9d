#!/bin/bash
# when the mwp part ends, core 0 takes the random cells from the other end of the l1_random part's order
while pgrep -f "sweep.dir=outputs/findings_converged/mwp" > /dev/null; do sleep 20; done
taskset -c 0 ./conv.sh random_rev pruner.name=random schedule=clr,ft budget.fraction=0.5,0.25 seed.retrain=1,0,2
