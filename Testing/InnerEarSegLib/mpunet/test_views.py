"""View bases follow mpunet's construction, including its sign quirk, and convert RAS -> LPS."""
from __future__ import annotations

import numpy as np
import pytest

from InnerEarSegLib.mpunet.views import view_basis_lps, view_basis_ras

VIEWS = [(0.3, 0.4, 0.866), (-0.9, 0.3, 0.42), (0.577, 0.577, 0.577), (0.0, 1.0, 0.0), (0.5, -0.2, 0.1)]


@pytest.mark.parametrize("view", VIEWS)
def test_basis_is_a_right_handed_orthonormal_frame_whose_third_axis_is_the_view(view):
    b = view_basis_ras(view)
    np.testing.assert_allclose(b.T @ b, np.eye(3), atol=1e-6)
    assert np.linalg.det(b) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(b[:, 2], np.asarray(view) / np.linalg.norm(view), atol=1e-6)


@pytest.mark.parametrize("view", VIEWS[:4])
def test_first_in_plane_axis_lies_in_the_vertical_plane_of_the_view(view):
    b = view_basis_ras(view)
    u, n = b[:, 0], b[:, 2]
    assert abs(np.dot(u, np.cross(n, [0, 0, 1.0]))) < 1e-6


def test_a_view_with_both_x_and_y_below_0_2_gets_their_absolute_values_like_mpunet():
    b = view_basis_ras((-0.6, -0.3, 0.74))
    n = np.array([0.6, 0.3, 0.74])
    np.testing.assert_allclose(b[:, 2], n / np.linalg.norm(n), atol=1e-6)


def test_a_vertical_view_uses_the_image_x_and_y_axes():
    np.testing.assert_allclose(view_basis_ras((0, 0, 1)), np.eye(3), atol=1e-12)


def test_lps_basis_flips_x_and_y_of_the_ras_basis():
    v = (0.3, 0.4, 0.866)
    np.testing.assert_allclose(view_basis_lps(v), np.diag([-1, -1, 1]) @ view_basis_ras(v))


def test_a_zero_view_is_refused():
    with pytest.raises(ValueError, match="non-zero 3-vector"):
        view_basis_ras((0, 0, 0))
