"""The orthonormal sampling basis of one MultiPlanarUNet view (``mpunet.interpolation.sample_plane_at``).

mpunet reads images with nibabel, so its view vectors (``views.npz``) are in the RAS world axes of
the image. Our images are SimpleITK (LPS): a RAS vector ``r`` is the LPS vector ``diag(-1, -1, 1) r``.
The basis is built in RAS exactly as mpunet does (including its quirk) and then expressed in LPS.
"""
from __future__ import annotations

import numpy as np

#: RAS <-> LPS: flip x and y.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _rotation_matrix(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """mpunet's ``get_rotation_matrix`` (Euler-Rodrigues, same sign convention)."""
    theta = np.deg2rad(angle_deg)
    axis = np.asarray(axis, dtype=float).ravel()
    axis = axis / np.linalg.norm(axis)
    a = np.cos(theta / 2.0)
    b, c, d = -axis * np.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array([[aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
                     [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
                     [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc]])


def view_basis_ras(view) -> np.ndarray:
    """Basis ``B = [u v n]`` (columns) of a view vector given in RAS, as mpunet builds it.

    ``n`` is the normalised view; quirk: if both its x and y components are below 0.2 (signed),
    they are replaced by their absolute values. If x and y are ~0, ``u = e_x, v = e_y``; otherwise
    ``u`` is ``n`` rotated by -90 degrees about ``n x normalise(n + e_z)`` and ``v = n x u``.
    A sample at plane coordinates ``(a, b, c)`` lies at ``B @ (a, b, c)`` from the centre.

    Examples
    --------
    >>> view_basis_ras([0, 0, 1]).round(6).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    n = np.asarray(view, dtype=np.float32).ravel()
    if n.shape != (3,) or not np.all(np.isfinite(n)) or not np.linalg.norm(n) > 0:
        raise ValueError(f"a view must be a finite non-zero 3-vector, got {view!r}")
    n = n / np.linalg.norm(n)
    if np.all(n[:-1] < 0.2):
        n[:-1] = np.abs(n[:-1])
    if np.all(np.isclose(n[:-1], 0)):
        u = np.array([1.0, 0.0, 0.0])
        v = np.array([0.0, 1.0, 0.0])
    else:
        k = n.copy()
        k[-1] += 1
        k /= np.linalg.norm(k)
        u = _rotation_matrix(np.cross(n, k), -90).dot(n)
        v = np.cross(n, u)
    return np.column_stack((u, v, n)).astype(np.float64)


def view_basis_lps(view_ras) -> np.ndarray:
    """:func:`view_basis_ras` expressed in LPS world axes (``diag(-1, -1, 1) @ B``)."""
    return RAS_TO_LPS @ view_basis_ras(view_ras)
