# The demo recognizer: a slim 3-stage ResNet3d-18 trained from scratch on core.synthetic clips
# (`python -m tools.demo train`). Self-contained MMAction2 1.x config (no _base_), no pretrained weights.
# Spatial stride of the last stage (`backbone.layer3`) is 8: a 112x112 input gives 14x14 heatmaps.
# The whole frame is resized (no crop), so heatmap coordinates map linearly onto the frame.
default_scope = 'mmaction'

classes = ['moving left', 'moving right', 'moving up', 'moving down']
dataset_meta = dict(classes=classes)
clip_len = 16
input_size = 112

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3d',
        depth=18,
        pretrained=None,
        pretrained2d=False,
        num_stages=3,
        base_channels=16,
        out_indices=(2, ),
        spatial_strides=(1, 2, 1),
        temporal_strides=(1, 1, 1),
        dilations=(1, 1, 1),
        conv1_kernel=(3, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        with_pool2=False,
        inflate=((1, 0), (0, 0), (0, 0)),
        zero_init_residual=False,
        norm_eval=False),
    cls_head=dict(
        type='I3DHead',
        num_classes=4,
        in_channels=64,
        spatial_type='avg',
        dropout_ratio=0.3,
        init_std=0.01,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

test_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=clip_len, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VideoDataset',
        ann_file='demo_list.txt',
        data_prefix=dict(video=''),
        metainfo=dict(classes=classes),
        pipeline=test_pipeline,
        test_mode=True))
test_evaluator = dict(type='AccMetric')
test_cfg = dict(type='TestLoop')
