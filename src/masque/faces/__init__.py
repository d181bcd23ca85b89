"""Faces in real photos: detection, landmarks, alignment templates, region masks and paste-back."""
