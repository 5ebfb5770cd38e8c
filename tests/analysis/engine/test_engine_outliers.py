"""Studentized deleted residuals (the plausibility check's yardstick for a study far from the others)
against metafor's rstudent() on the BCG vaccine trials."""
import numpy as np

from analysis.engine.outliers import studentized_deleted_residuals

# R: library(metafor); dat <- escalc(measure="OR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
#    sprintf("%.15g", dat$yi); sprintf("%.15g", dat$vi)
BCG_YI = [-0.938694140870392, -1.66619072902655, -1.38629436111989, -1.45644354931298, -0.219141085675433,
          -0.958122040776267, -1.6337758382289, 0.0120206014527326, -0.471746035838696, -1.40121013928348,
          -0.340849646366211, 0.446634682274446, -0.0173418739290936]
BCG_VI = [0.357124952253629, 0.208132393657186, 0.43341307814992, 0.0203144129731974, 0.0519517773171203,
          0.00990526551533824, 0.227009675223494, 0.00400696201214883, 0.0569771239877627, 0.0754217263149204,
          0.0125251338202155, 0.534162172474717, 0.0716351172956587]
# R: rstudent(rma(yi, vi, data=dat, method="DL"))$z
BCG_Z = [-0.2299584947, -1.2652357554, -0.7315627627, -1.4013235866, 0.8355413624, -0.3461892234, -1.1972571587,
         1.5664511991, 0.4343416760, -1.0461939813, 0.6236863020, 1.2843198211, 1.1383372351]


def test_matches_metafor_rstudent_on_the_bcg_trials():
    np.testing.assert_allclose(studentized_deleted_residuals(BCG_YI, BCG_VI), BCG_Z, atol=1e-9)


def test_a_study_far_from_homogeneous_others_stands_out():
    # R: rstudent(rma(c(0.1,0.3,-0.2,0.25,2.5,0.05), c(0.04,0.05,0.06,0.03,0.05,0.04), method="DL"))$z
    z = studentized_deleted_residuals([0.1, 0.3, -0.2, 0.25, 2.5, 0.05], [0.04, 0.05, 0.06, 0.03, 0.05, 0.04])
    np.testing.assert_allclose(z, [-0.4256222542, -0.2119114311, -0.7814040313, -0.2561549479, 9.8420600401,
                                   -0.4819372880], atol=1e-9)


def test_fewer_than_three_studies_give_no_residuals():
    assert np.isnan(studentized_deleted_residuals([0.1, 0.2], [0.1, 0.1])).all()


def _exact_z(y, v, i):
    """zᵢ with the leave-one-out fit's τ² in exact rational arithmetic (the oracle for the
    cancellation the engine's textbook formula suffers), the rest in floats."""
    from fractions import Fraction

    keep = [j for j in range(len(y)) if j != i]
    w = [1 / Fraction(v[j]) for j in keep]
    ys = [Fraction(y[j]) for j in keep]
    total = sum(w)
    fixed = sum(a * b for a, b in zip(w, ys)) / total
    q = sum(a * (b - fixed) ** 2 for a, b in zip(w, ys))
    tau2 = max(Fraction(0), (q - (len(keep) - 1)) / (total - sum(a * a for a in w) / total))
    w_random = [1 / (Fraction(v[j]) + tau2) for j in keep]
    mu = sum(a * b for a, b in zip(w_random, ys)) / sum(w_random)
    return float((Fraction(y[i]) - mu) / np.sqrt(float(Fraction(v[i]) + tau2 + 1 / sum(w_random))))


def test_one_study_with_a_tiny_se_does_not_make_the_others_outliers():
    # SE 1e-12 (a slip, once confirmed) among SEs of 0.1-0.2: the textbook τ² denominator
    # Σw − Σw²/Σw cancelled to rounding noise, τ² came out 0 and an ordinary study had z = 4.
    y = [-0.6, -0.22, 0.1, -0.35, -0.5, -0.2]
    v = [1e-24, 0.01, 0.0144, 0.0121, 0.04, 0.01]
    z = studentized_deleted_residuals(y, v)
    np.testing.assert_allclose(z[1:], [_exact_z(y, v, i) for i in range(1, len(y))], rtol=1e-9)
    assert abs(z[-1]) < 1
