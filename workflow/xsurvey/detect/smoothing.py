"""Top-hat smoothing of counts and background maps: exact integer running sums and FFT
convolution (method.md §4), and the work grids of the peak search."""

from __future__ import annotations

import numpy as np
import scipy.fft


# ---------------------------------------------------------------------------
# Top-hat smoothing
# ---------------------------------------------------------------------------
def tophat_kernel(radius_pix: float) -> np.ndarray:
    """Binary circular top-hat: 1 where the pixel centre is within ``radius_pix``.

    A binary kernel keeps smoothed counts integer (a sum of Poisson counts
    is Poisson), so ``gammainc(a, x)`` is the exact Poisson tail.

    Parameters
    ----------
    radius_pix : float
        Radius, pixels.

    Returns
    -------
    numpy.ndarray (float64), shape (2h+1, 2h+1) with ``h = floor(radius_pix)``.
    """
    half = int(np.floor(radius_pix))
    d = np.arange(-half, half + 1)
    return (d[None, :] ** 2 + d[:, None] ** 2 <= radius_pix**2 + 1e-9).astype(np.float64)


class FFTConvolver:
    """Linear convolution with a fixed small kernel on a fixed image shape.

    The kernel is wrapped around the origin of a zero-padded grid whose size
    is at least ``shape + kernel half-width`` and a fast FFT length
    (``scipy.fft.next_fast_len``); its real FFT is computed once.

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx).
    kernel : numpy.ndarray
        Odd-sized square kernel.
    workers : int, optional
        Threads used by scipy.fft (default 1: parallelism belongs to the
        workflow's jobs).
    """

    def __init__(self, shape, kernel, workers: int = 1):
        kernel = np.asarray(kernel, dtype=np.float64)
        half = kernel.shape[0] // 2
        self.shape = tuple(int(s) for s in shape)
        k = kernel.shape[0]
        self.fft_shape = tuple(scipy.fft.next_fast_len(max(s + half, k), real=True)
                               for s in self.shape)
        self.workers = workers
        grid = np.zeros(self.fft_shape)
        grid[:k, :k] = kernel
        grid = np.roll(grid, (-half, -half), axis=(0, 1))
        self._kernel_fft = scipy.fft.rfft2(grid, workers=workers)

    def __call__(self, image) -> np.ndarray:
        """Convolve ``image`` (shape ``self.shape``); returns float64, same shape."""
        f = scipy.fft.rfft2(image, s=self.fft_shape, workers=self.workers)
        f *= self._kernel_fft
        out = scipy.fft.irfft2(f, s=self.fft_shape, workers=self.workers)
        return out[: self.shape[0], : self.shape[1]]


class RunSum:
    """Exact sum of an integer image over a binary kernel made of centred row runs.

    Row ``dy`` of a circular top-hat is a run of ``2 r(dy) + 1`` pixels centred
    on the kernel's central column. The kernel sum is then the sum over ``dy``
    of horizontal running sums of width ``2 r + 1`` (differences of one
    cumulative sum along the rows), shifted by ``dy``: about 25 integer array
    operations, exact (no round-off at all) and faster than the FFT.
    Positions beyond the image edge contribute zero, as in
    :class:`FFTConvolver`.

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx).
    kernel : numpy.ndarray
        Odd-sized square binary kernel whose rows are centred runs
        (see :meth:`applies`).
    """

    def __init__(self, shape, kernel):
        if not self.applies(kernel):
            raise ValueError("kernel rows are not centred runs of ones")
        kernel = np.asarray(kernel) != 0
        self.shape = tuple(int(s) for s in shape)
        self.half = kernel.shape[0] // 2
        self.area = int(kernel.sum())
        #: (dy, r) for every non-empty kernel row
        self.rows = [(dy - self.half, int(kernel[dy].sum()) // 2)
                     for dy in range(kernel.shape[0]) if kernel[dy].any()]

    @staticmethod
    def applies(kernel) -> bool:
        """True for an odd square binary kernel whose rows are runs centred on it."""
        kernel = np.asarray(kernel)
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
            return False
        if not np.all((kernel == 0) | (kernel == 1)):
            return False
        half = kernel.shape[0] // 2
        for row in kernel != 0:
            r = int(row.sum()) // 2
            expect = np.zeros_like(row)
            expect[half - r:half + r + 1] = row.any()
            if not np.array_equal(row, expect):
                return False
        return True

    def dtype_for(self, max_abs: float):
        """Narrowest integer dtype of the cumulative row sums of values up to ``max_abs``."""
        bound = float(max_abs) * (self.shape[1] + 1)
        return np.int32 if bound < 2**31 - 1 else np.int64

    def sum_dtype_for(self, max_abs: float):
        """Narrowest integer dtype of the kernel sums of values up to ``max_abs``.

        int16 whenever it suffices (the usual case for counts maps): the
        sums then move a quarter of the memory of int64 and run about three
        times faster than int32 ones.
        """
        bound = float(max_abs) * max(self.area, 2 * max(r for _, r in self.rows) + 1)
        for dtype in (np.int16, np.int32):
            if bound < np.iinfo(dtype).max:
                return dtype
        return np.int64

    def __call__(self, image, max_abs=None) -> np.ndarray:
        """Kernel sums of an integer image of shape ``self.shape``.

        Parameters
        ----------
        image : numpy.ndarray of int
            Image; its dtype must hold the cumulative row sums
            (:meth:`dtype_for`).
        max_abs : float, optional
            Largest absolute pixel value (computed if not given); sets the
            dtype of the result (:meth:`sum_dtype_for`).

        Returns
        -------
        numpy.ndarray
            Exact kernel sums (int16, int32 or int64), shape ``self.shape``.
        """
        image = np.asarray(image)
        if max_abs is None:
            max_abs = max(int(image.max()), -int(image.min()), 0) if image.size else 0
        dtype = self.sum_dtype_for(max_abs)
        ny, nx = self.shape
        h = self.half
        csum = np.zeros((ny + 2 * h, nx + 2 * h + 1), dtype=image.dtype)
        body = csum[h:h + ny]
        np.cumsum(image, axis=1, out=body[:, h + 1:h + 1 + nx])
        body[:, h + 1 + nx:] = body[:, h + nx:h + nx + 1]
        runs = {}
        for _, r in self.rows:
            if r not in runs:
                runs[r] = np.subtract(csum[:, h + r + 1:h + r + 1 + nx], csum[:, h - r:h - r + nx],
                                      dtype=dtype, casting="unsafe")
        out = np.zeros((ny, nx), dtype=dtype)
        for dy, r in self.rows:
            out += runs[r][h + dy:h + dy + ny]
        return out


class PixelGrids:
    """Padded value and index grids for the neighbours of a sparse set of pixels.

    Pixel ``i`` of the set, at row ``y`` and column ``x`` of an image of
    shape ``(ny, nx)``, is stored at ``(y + 1) * w + x + 1`` with
    ``w = nx + 2``: a one-pixel frame (value ``-inf``, index ``-1``) makes
    every 8-neighbour address valid, so neighbours are read with
    ``numpy.take`` and no bounds checks. The grids are allocated once and
    reset after use (a :class:`Detector` keeps one for all its calls).

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx).
    """

    def __init__(self, shape):
        ny, nx = (int(s) for s in shape)
        self.shape = (ny, nx)
        self.w = nx + 2
        size = (ny + 2) * self.w + 2
        self.value = np.full(size, -np.inf)
        self.index = np.full(size, -1, dtype=np.int32)
        self._at = None

    def load(self, pix, value) -> np.ndarray:
        """Store pixels (flat image indices) and values; returns their offsets ``q0``.

        ``grid[w + 1 + off:][q0]`` is the neighbour at flat offset ``off``.
        """
        py, px = np.divmod(pix, self.shape[1])
        q0 = py * self.w + px
        self._at = q0 + (self.w + 1)
        self.value[self._at] = value
        self.index[self._at] = np.arange(pix.size, dtype=np.int32)
        return q0

    def clear(self) -> None:
        """Reset the cells written by :meth:`load`."""
        if self._at is not None:
            self.value[self._at] = -np.inf
            self.index[self._at] = -1
            self._at = None

    def offsets(self, forward_only: bool = False) -> tuple:
        """Flat offsets of the 8 neighbours, ascending (or only the 4 later ones)."""
        w = self.w
        offs = (-w - 1, -w, -w + 1, -1, 1, w - 1, w, w + 1)
        return offs[4:] if forward_only else offs

    def gather(self, grid, q0, off, out=None) -> np.ndarray:
        """Entries of ``grid`` (:attr:`value` or :attr:`index`) at neighbour ``off``."""
        return np.take(grid[self.w + 1 + off:], q0, out=out, mode="clip")
