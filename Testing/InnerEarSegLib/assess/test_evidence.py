import numpy as np
import pytest

from InnerEarSegLib.assess import evidence as ev


def _ring(shape=(40, 40, 40), radius=10.0, tube=2.0, centre=(20, 20, 20)):
    z, y, x = np.indices(shape)
    rho = np.hypot(y - centre[1], x - centre[2])
    return np.hypot(rho - radius, z - centre[0]) <= tube


def test_volume_honours_anisotropic_spacing():
    m = np.zeros((4, 4, 4), bool)
    m[:2, :2, :2] = True
    assert ev.volume_mm3(m, (2.0, 0.5, 0.25)) == pytest.approx(8 * 0.25)


def test_a_ring_has_one_tunnel_and_a_cut_ring_none():
    ring = _ring()
    assert ev.tunnel_count(ring) == 1
    cut = ring.copy()
    cut[:, :, 18:23] &= ~(np.indices(ring.shape)[1][:, :, 18:23] < 20)
    assert ev.tunnel_count(cut) == 0


def test_a_canal_arc_opening_twice_into_the_vestibule_closes_its_loop_and_a_cut_one_does_not():
    ring = _ring()
    vest = np.zeros_like(ring)
    vest[14:27, 24:40, 14:27] = True  # a block over one side of the ring
    canal = ring & ~vest
    loop = ev.canal_loop(canal, vest, (0.3, 0.3, 0.3))
    assert loop.closed and loop.openings == 2 and loop.reach_mm > 5
    cut = canal.copy()
    cut[:, :14, :] = False  # remove the far side of the arc
    broken = ev.canal_loop(cut, vest, (0.3, 0.3, 0.3))
    assert not broken.closed and broken.openings == 2


def test_cochlear_coverage_is_full_for_a_spiral_and_about_half_for_half_of_it():
    z, y, x = np.indices((30, 80, 80)) * 0.3
    pts = np.stack([x - 12, y - 12], axis=-1)
    ang = np.arctan2(pts[..., 1], pts[..., 0]) % (2 * np.pi)
    rho = np.hypot(pts[..., 0], pts[..., 1])
    spiral = np.zeros(z.shape, bool)
    for turn in range(3):  # r shrinks 1 mm per turn
        r = 8.0 - (turn + ang / (2 * np.pi)) * 2.0
        spiral |= (np.abs(rho - r) < 0.6) & (np.abs(z - 4.5) < 0.6)
    full = ev.cochlear_turns(spiral, (0.3, 0.3, 0.3))
    assert full.angular_coverage > 0.9
    half = spiral & (pts[..., 1] > 0)
    assert ev.cochlear_turns(half, (0.3, 0.3, 0.3)).angular_coverage < 0.65
    assert full.axis[0] == pytest.approx(1.0, abs=0.05) or full.axis[0] == pytest.approx(-1.0, abs=0.05)
