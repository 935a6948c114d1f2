"""The trainers: Trainer (one model), MultiSeedTrainer (copies in one program), the fit
loop both share, the checks of what they are built from, and the dry run."""
