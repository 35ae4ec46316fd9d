#!/bin/bash
./lb.sh 1 tp_mag_fpgm_bn pruner.name=torch_pruning pruner.importance._target_=torch_pruning.importance.MagnitudeImportance,torch_pruning.importance.GroupMagnitudeImportance,torch_pruning.importance.FPGMImportance,torch_pruning.importance.BNScaleImportance
./lb.sh 1 tp_hess_taylor_s2 pruner.name=torch_pruning pruner.importance._target_=torch_pruning.importance.GroupHessianImportance,torch_pruning.importance.GroupTaylorImportance seed.retrain=2
