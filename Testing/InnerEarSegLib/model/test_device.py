"""Device resolution: auto picks what exists; asking for an absent GPU is a clear error."""
import pytest
import torch

from InnerEarSegLib.model.device import DeviceError, resolve_device


def test_cpu_and_auto_resolve_to_a_usable_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_asking_for_cuda_without_a_gpu_says_what_to_do_instead(name):
    with pytest.raises(DeviceError, match="CUDA is not available.*--device cpu"):
        resolve_device(name)


def test_unknown_device_names_are_refused_with_the_allowed_choices():
    with pytest.raises(DeviceError, match="auto"):
        resolve_device("tpu")


@pytest.mark.gpu
def test_cuda_resolves_when_a_gpu_is_present():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    assert resolve_device("cuda").type == "cuda"
