"""A custom model in a few lines: ``model=custom model._target_=examples.my_model.SmallNet``."""

from torch import nn


class SmallNet(nn.Module):
    """Three conv-BN-ReLU blocks and a linear classifier; ``width`` channels in the first block."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        blocks, channels = [], 3
        for out in (width, 2 * width, 4 * width):
            blocks += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))
