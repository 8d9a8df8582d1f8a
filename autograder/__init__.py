"""Grades Tiny U-Net submissions: submission -> headless run -> probe -> checks -> report."""
