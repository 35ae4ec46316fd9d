#!/bin/bash
./lb.sh 0 suite pruner.name=l1,random,taylor
./lb.sh 0 tp_hess_taylor_s01 pruner.name=torch_pruning pruner.importance._target_=torch_pruning.importance.GroupHessianImportance,torch_pruning.importance.GroupTaylorImportance seed.retrain=0,1
