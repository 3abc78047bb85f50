"""Forces are -dE/dr and the stress is the strain derivative of the energy."""

import numpy as np

from mlff_ttt.calculator import MLFFCalculator

from helpers import central_difference_force, silicon


def test_forces_match_finite_differences(model_file):
    atoms = silicon(repeat=(1, 1, 2), rattle=0.15)
    atoms.calc = MLFFCalculator(str(model_file))
    forces = atoms.get_forces()
    h = 1e-4
    rng = np.random.default_rng(0)
    for atom in rng.choice(len(atoms), size=4, replace=False):
        for axis in range(3):
            numeric = central_difference_force(atoms.calc.get_potential_energy, atoms, atom,
                                               axis, h)
            assert abs(numeric - forces[atom, axis]) < 1e-7, (atom, axis, numeric, forces[atom, axis])


def test_stress_matches_strain_derivative(model_file):
    atoms = silicon(repeat=(1, 1, 2), rattle=0.15)
    atoms.calc = MLFFCalculator(str(model_file))
    stress = atoms.get_stress(voigt=False)
    volume = atoms.get_volume()
    h = 1e-5
    for i, j in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]:
        energies = []
        for sign in (1, -1):
            strain = np.eye(3)
            strain[i, j] += sign * h / 2
            strain[j, i] += sign * h / 2
            deformed = atoms.copy()
            deformed.calc = atoms.calc
            deformed.set_cell(atoms.cell.array @ strain, scale_atoms=True)
            energies.append(deformed.get_potential_energy())
        numeric = (energies[0] - energies[1]) / (2 * h) / volume
        assert abs(numeric - stress[i, j]) < 1e-8, (i, j, numeric, stress[i, j])
