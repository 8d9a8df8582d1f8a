"""What the Tiny U-Net assignment and its autograder share: profiles, points and data tooling."""
